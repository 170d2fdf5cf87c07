-- Indexer workers and API replicas on one PostgreSQL server (issue 12).

-- The work queue `npm run index -- <source> --enqueue` fills and `npm run worker` drains. An item
-- is its source listing (where the file is, its captions and metadata), never the image bytes:
-- workers read the file themselves, so the path must be reachable from every worker machine.
CREATE TABLE work_items (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source        text        NOT NULL,
  item_key      text        NOT NULL,
  uri           text        NOT NULL,
  -- Absolute path of the image file, and the directory it must stay inside (symlinks included).
  file          text,
  root          text,
  captions      text[]      NOT NULL DEFAULT '{}',
  metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- Why the item cannot be read at all (a bad manifest line, a path outside the root), as listed.
  listing_error text,
  status        text        NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'claimed', 'done', 'failed')),
  worker        text,
  -- A fresh token per claim: only the holder of the current token may commit the item's result.
  lease_token   uuid,
  lease_until   timestamptz,
  attempts      integer     NOT NULL DEFAULT 0,
  outcome       text        CHECK (outcome IN ('indexed', 'duplicate')),
  image_id      bigint      REFERENCES images (id) ON DELETE SET NULL,
  error         text,
  enqueued_at   timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  UNIQUE (source, item_key)
);
-- What a claim scans: unfinished items in id order.
CREATE INDEX work_items_open_idx ON work_items (id) WHERE status IN ('pending', 'claimed');

-- Workers say they are alive here (and on their claims' leases); `index --status` lists them.
CREATE TABLE work_workers (
  id            text        PRIMARY KEY,
  host          text        NOT NULL,
  pid           integer     NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  -- A worker beats at a third of its lease; silent for a whole lease, it is presumed dead.
  lease_ms      integer     NOT NULL,
  stopped_at    timestamptz,
  done          integer     NOT NULL DEFAULT 0,
  failed        integer     NOT NULL DEFAULT 0
);

-- The change log API replicas follow: one row per vector or image id whose state changed, tagged
-- with the writing transaction's id. Writers commit out of id (and seq) order, so followers read
-- it by transaction visibility (xid8 against their snapshot's xmin), not by a high-water mark.
-- Filled by triggers, so every writer (API, indexer, worker, a hand-written UPDATE) is covered.
CREATE TABLE vector_changes (
  seq   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid   xid8        NOT NULL DEFAULT pg_current_xact_id(),
  kind  text        NOT NULL CHECK (kind IN ('image', 'caption')),
  id    bigint      NOT NULL,
  op    text        NOT NULL CHECK (op IN ('upsert', 'delete', 'undelete')),
  at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vector_changes_xid_idx ON vector_changes (xid);

CREATE FUNCTION vector_changes_from_image_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO vector_changes (kind, id, op) SELECT 'image', image_id, 'delete' FROM old_rows;
  ELSE
    INSERT INTO vector_changes (kind, id, op) SELECT 'image', image_id, 'upsert' FROM new_rows;
  END IF;
  PERFORM pg_notify('vector_changes', '');
  RETURN NULL;
END $$;

CREATE FUNCTION vector_changes_from_caption_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO vector_changes (kind, id, op) SELECT 'caption', caption_id, 'delete' FROM old_rows;
  ELSE
    INSERT INTO vector_changes (kind, id, op) SELECT 'caption', caption_id, 'upsert' FROM new_rows;
  END IF;
  PERFORM pg_notify('vector_changes', '');
  RETURN NULL;
END $$;

-- A soft delete (or a revival) changes whether the image's and its captions' vectors are live.
CREATE FUNCTION vector_changes_from_images() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH flipped AS (
    SELECT n.id, CASE WHEN n.deleted_at IS NULL THEN 'undelete' ELSE 'delete' END AS op
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.deleted_at IS DISTINCT FROM o.deleted_at
  )
  INSERT INTO vector_changes (kind, id, op)
  SELECT 'image', f.id, f.op FROM flipped f
  UNION ALL
  SELECT 'caption', c.id, f.op FROM flipped f JOIN captions c ON c.image_id = f.id;
  IF FOUND THEN
    PERFORM pg_notify('vector_changes', '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER image_vectors_insert AFTER INSERT ON image_vectors
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_image_vectors();
CREATE TRIGGER image_vectors_update AFTER UPDATE ON image_vectors
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_image_vectors();
CREATE TRIGGER image_vectors_delete AFTER DELETE ON image_vectors
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_image_vectors();
CREATE TRIGGER caption_vectors_insert AFTER INSERT ON caption_vectors
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_caption_vectors();
CREATE TRIGGER caption_vectors_update AFTER UPDATE ON caption_vectors
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_caption_vectors();
CREATE TRIGGER caption_vectors_delete AFTER DELETE ON caption_vectors
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_caption_vectors();
CREATE TRIGGER images_deleted_at AFTER UPDATE ON images
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vector_changes_from_images();
