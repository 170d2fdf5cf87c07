-- Images, captions, their vectors per model fingerprint, and the ingest bookkeeping.
-- Postgres is the source of truth; HNSW index files are derived from these rows.

CREATE TABLE images (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sha256      text        NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  uri         text        NOT NULL,
  width       integer     NOT NULL CHECK (width > 0),
  height      integer     NOT NULL CHECK (height > 0),
  format      text        NOT NULL,
  bytes       bigint      NOT NULL CHECK (bytes >= 0),
  metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz
);
CREATE INDEX images_uri_idx ON images (uri);
CREATE INDEX images_live_idx ON images (id) WHERE deleted_at IS NULL;
CREATE INDEX images_created_idx ON images (created_at);
CREATE INDEX images_metadata_idx ON images USING gin (metadata jsonb_path_ops);

CREATE TABLE captions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  image_id    bigint      NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  text        text        NOT NULL CHECK (length(text) > 0),
  tsv         tsvector    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX captions_image_idx ON captions (image_id);
CREATE INDEX captions_tsv_idx ON captions USING gin (tsv);

-- One row per (item, model fingerprint); the vector is little-endian float32 bytes.
CREATE TABLE image_vectors (
  image_id     bigint  NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  fingerprint  text    NOT NULL,
  dims         integer NOT NULL CHECK (dims > 0),
  vector       bytea   NOT NULL CHECK (length(vector) = dims * 4),
  PRIMARY KEY (fingerprint, image_id)
);

CREATE TABLE caption_vectors (
  caption_id   bigint  NOT NULL REFERENCES captions (id) ON DELETE CASCADE,
  fingerprint  text    NOT NULL,
  dims         integer NOT NULL CHECK (dims > 0),
  vector       bytea   NOT NULL CHECK (length(vector) = dims * 4),
  PRIMARY KEY (fingerprint, caption_id)
);

CREATE TABLE ingest_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source       text        NOT NULL,
  options      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  summary      jsonb
);

-- The resumability ledger: one row per (source, item key), whatever run last touched it.
CREATE TABLE ingest_items (
  source      text        NOT NULL,
  item_key    text        NOT NULL,
  run_id      bigint      NOT NULL REFERENCES ingest_runs (id),
  status      text        NOT NULL CHECK (status IN ('indexed', 'duplicate', 'failed')),
  error       text,
  attempts    integer     NOT NULL DEFAULT 1,
  image_id    bigint      REFERENCES images (id) ON DELETE SET NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, item_key)
);
CREATE INDEX ingest_items_failed_idx ON ingest_items (source) WHERE status = 'failed';
