/**
 * Idempotency keys of mutations: claimed before the mutation runs, completed with its answer, or
 * released when it failed without writing. One query per method.
 */
import type { Queryable } from './db.ts';

export interface StoredAnswer {
  requestHash: string;
  /** Undefined while the first request still runs. */
  answer: { status: number; body: unknown } | undefined;
}

interface Row {
  request_hash: string;
  status: number | null;
  response: unknown;
}

export class IdempotencyRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Claims `key` for this request. A row older than `staleSeconds` (retention passed, or a pending
   * claim whose process died) is taken over. False: someone holds it; see `find`.
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
         SET request_hash = EXCLUDED.request_hash, status = NULL, response = NULL, created_at = now()
         WHERE idempotency_keys.created_at < now() - make_interval(secs =>
           CASE WHEN idempotency_keys.status IS NULL THEN $5::float8 ELSE $4::float8 END)
       RETURNING 1`,
      [scope, key, requestHash, stale.completedSeconds, stale.pendingSeconds],
    );
    return rows.length === 1;
  }

  async find(scope: string, key: string): Promise<StoredAnswer | undefined> {
    const [row] = await this.db.query<Row>(
      `SELECT request_hash, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2`,
      [scope, key],
    );
    if (!row) return undefined;
    return {
      requestHash: row.request_hash,
      answer: row.status === null ? undefined : { status: row.status, body: row.response },
    };
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

  /** Gives a claim back (the request wrote nothing), so a retry runs it afresh. */
  async release(scope: string, key: string, requestHash: string): Promise<void> {
    await this.db.query(
      `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND request_hash = $3 AND status IS NULL`,
      [scope, key, requestHash],
    );
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
