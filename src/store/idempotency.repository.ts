/**
 * Idempotency keys of mutations: claimed before the mutation runs, marked committed inside the
 * mutation's own transaction, completed with its answer, or released when it failed without
 * writing. One query per method.
 */
import type { Queryable } from './db.ts';

export interface StoredAnswer {
  requestHash: string;
  /** Undefined while the first request still runs, or when it died before storing its answer. */
  answer: { status: number; body: unknown } | undefined;
  /** The first request's writes committed (set in its own transaction). */
  committed: boolean;
  /** Older than the pending limit: a request without an answer by now has died. */
  stale: boolean;
}

interface Row {
  request_hash: string;
  status: number | null;
  response: unknown;
  committed: boolean;
  stale: boolean;
}

export class IdempotencyRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Claims `key` for this request. A row older than its limit (retention passed, or a pending claim
   * whose process died before committing anything) is taken over; a claim whose request committed
   * is kept for the whole retention even without an answer. False: someone holds it; see `find`.
   */
  async claim(
    scope: string,
    key: string,
    requestHash: string,
    stale: { completedSeconds: number; pendingSeconds: number },
  ): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
       ON CONFLICT (scope, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, status = NULL, response = NULL,
             committed = false, created_at = now()
         WHERE idempotency_keys.created_at < now() - make_interval(secs =>
           CASE WHEN idempotency_keys.status IS NULL AND NOT idempotency_keys.committed
             THEN $5::float8 ELSE $4::float8 END)
       RETURNING 1`,
      [scope, key, requestHash, stale.completedSeconds, stale.pendingSeconds],
    );
    return rows.length === 1;
  }

  async find(scope: string, key: string, pendingSeconds: number): Promise<StoredAnswer | undefined> {
    const [row] = await this.db.query<Row>(
      `SELECT request_hash, status, response, committed,
              created_at < now() - make_interval(secs => $3::float8) AS stale
       FROM idempotency_keys WHERE scope = $1 AND key = $2`,
      [scope, key, pendingSeconds],
    );
    if (!row) return undefined;
    return {
      requestHash: row.request_hash,
      answer: row.status === null ? undefined : { status: row.status, body: row.response },
      committed: row.committed,
      stale: row.stale,
    };
  }

  /**
   * Run inside the mutation's transaction, last before COMMIT: from then on the key is never run
   * again, whether or not the answer gets stored.
   */
  async markCommitted(scope: string, key: string, requestHash: string): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_keys SET committed = true
       WHERE scope = $1 AND key = $2 AND request_hash = $3 AND status IS NULL`,
      [scope, key, requestHash],
    );
  }

  async complete(
    scope: string,
    key: string,
    requestHash: string,
    status: number,
    body: unknown,
  ): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_keys SET status = $4, response = $5::jsonb
       WHERE scope = $1 AND key = $2 AND request_hash = $3 AND status IS NULL`,
      [scope, key, requestHash, status, JSON.stringify(body)],
    );
  }

  /**
   * Gives a claim back (the request wrote nothing), so a retry runs it afresh. False when the
   * request did commit a write: then its answer must be stored instead.
   */
  async release(scope: string, key: string, requestHash: string): Promise<boolean> {
    const rows = await this.db.query(
      `DELETE FROM idempotency_keys
       WHERE scope = $1 AND key = $2 AND request_hash = $3 AND status IS NULL AND NOT committed
       RETURNING 1`,
      [scope, key, requestHash],
    );
    return rows.length === 1;
  }

  /** Deletes answers older than the retention; returns how many. */
  async prune(olderThanSeconds: number): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1::float8) RETURNING 1`,
      [olderThanSeconds],
    );
    return rows.length;
  }
}
