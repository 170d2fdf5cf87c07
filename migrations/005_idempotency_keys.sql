-- Mutations sent with an Idempotency-Key header: the first request's answer, so a retry gets it
-- back instead of writing again. Scoped per credential and operation; kept for a bounded time
-- (IDEMPOTENCY_RETENTION_HOURS), then pruned or taken over by a new request.

CREATE TABLE idempotency_keys (
  scope         text        NOT NULL,
  key           text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash  text        NOT NULL,
  -- NULL while the first request runs; then the HTTP status and the GraphQL answer it got.
  status        integer,
  response      jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
