import type { Db, Queryable } from './db.ts';
import { checkIds } from './limits.ts';
import { decodeVector, type VectorKind } from './vectors.repository.ts';

/** One row of the change log (migrations/003): an id whose vector state changed, and who wrote it. */
export interface VectorChange {
  seq: number;
  /** The writing transaction (xid8, as text: it exceeds 2^53 only after billions of transactions). */
  xid: string;
  kind: VectorKind;
  id: number;
}

/** The notification channel the change-log triggers signal on each commit that wrote to it. */
export const VECTOR_CHANGES_CHANNEL = 'vector_changes';

/** What the follower reads: the change log and the state of the changed ids, by one snapshot. */
export class VectorChangesRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Runs `fn` in one read-only REPEATABLE READ transaction, so every statement in it (the horizon,
   * the changes, the vectors) sees the same snapshot.
   */
  static async inSnapshot<T>(db: Db, fn: (repo: VectorChangesRepository) => Promise<T>): Promise<T> {
    return db.session(async (conn) => {
      await conn.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const result = await fn(new VectorChangesRepository(conn));
        await conn.exec('COMMIT');
        return result;
      } catch (error) {
        await conn.exec('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * The snapshot's xmin: every transaction with a smaller id has finished, so its changes are
   * visible now or never. Transactions at or above it may still commit changes.
   */
  async horizon(): Promise<string> {
    const rows = await this.db.query<{ h: string }>(
      'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h',
    );
    return rows[0]!.h;
  }

  /** Changes written by transactions at or above `xid` that this snapshot sees (committed ones). */
  async since(xid: string): Promise<VectorChange[]> {
    return this.db.query<VectorChange>(
      'SELECT seq, xid::text AS xid, kind, id FROM vector_changes WHERE xid >= $1::xid8 ORDER BY seq',
      [xid],
    );
  }

  /** Of `ids`, those live with a vector of `fingerprint`, with it (the others are gone). */
  async liveVectors(
    kind: VectorKind,
    fingerprint: string,
    ids: readonly number[],
  ): Promise<{ id: number; vector: Float32Array }[]> {
    checkIds(ids);
    if (ids.length === 0) return [];
    const sql =
      kind === 'image'
        ? `SELECT v.image_id AS id, v.vector FROM image_vectors v
           JOIN images i ON i.id = v.image_id AND i.deleted_at IS NULL
           WHERE v.fingerprint = $1 AND v.image_id = ANY($2::bigint[])`
        : `SELECT v.caption_id AS id, v.vector FROM caption_vectors v
           JOIN captions c ON c.id = v.caption_id
           JOIN images i ON i.id = c.image_id AND i.deleted_at IS NULL
           WHERE v.fingerprint = $1 AND v.caption_id = ANY($2::bigint[])`;
    const rows = await this.db.query<{ id: number; vector: Uint8Array }>(sql, [fingerprint, ids]);
    return rows.map((r) => ({ id: r.id, vector: decodeVector(r.vector) }));
  }

  /**
   * Drops every row of a finished transaction: for embedded PGlite, where no other process can
   * follow (one process), so the log would only grow.
   */
  async clearFinished(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `WITH d AS (DELETE FROM vector_changes WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
    );
    return rows[0]?.n ?? 0;
  }

  /** Drops log rows every follower has read: written by transactions below `xid`. */
  async prune(xid: string): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      'WITH d AS (DELETE FROM vector_changes WHERE xid < $1::xid8 RETURNING 1) SELECT count(*)::int AS n FROM d',
      [xid],
    );
    return rows[0]?.n ?? 0;
  }
}
