-- The pgvector tables that exist, one per (kind, model fingerprint). VECTOR_BACKEND=pgvector
-- creates them (and the extension) at start; this registry holds plain types only, so it applies
-- to every database, with or without pgvector: every writer of image_vectors / caption_vectors
-- reads it to write the same vectors into the matching pgvector table in the same transaction.
CREATE TABLE pgvector_tables (
  kind         text        NOT NULL CHECK (kind IN ('image', 'caption')),
  fingerprint  text        NOT NULL,
  dims         integer     NOT NULL CHECK (dims > 0 AND dims <= 16000),
  table_name   text        NOT NULL UNIQUE CHECK (table_name ~ '^pgv_(image|caption)_[0-9a-f]{16}$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, fingerprint)
);
