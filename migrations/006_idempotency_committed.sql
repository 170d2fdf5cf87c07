-- Set inside the mutation's own transaction, last before COMMIT: a key whose request committed is
-- never run again, even when the process died before it could store the answer (then a retry is
-- told the answer was lost instead of writing a second time).

ALTER TABLE idempotency_keys ADD COLUMN committed boolean NOT NULL DEFAULT false;
