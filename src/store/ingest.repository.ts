import type { Queryable } from './db.ts';
import { checkIds, checkLimit } from './limits.ts';

/** The `source` of the ledger rows `npm run reindex` records; no source path can be this. */
export const REINDEX_SOURCE = 'reindex:';

export type ItemStatus = 'indexed' | 'duplicate' | 'failed';

export interface ItemOutcome {
  key: string;
  status: ItemStatus;
  error?: string;
  imageId?: number;
}

export class IngestRepository {
  constructor(private readonly db: Queryable) {}

  async startRun(source: string, options: Record<string, unknown>): Promise<number> {
    const rows = await this.db.query<{ id: number }>(
      'INSERT INTO ingest_runs (source, options) VALUES ($1, $2::jsonb) RETURNING id',
      [source, JSON.stringify(options)],
    );
    return rows[0]!.id;
  }

  /** What earlier runs concluded for these item keys of `source`. */
  async statuses(
    source: string,
    keys: readonly string[],
  ): Promise<Map<string, { status: ItemStatus; attempts: number }>> {
    checkIds(keys);
    if (keys.length === 0) return new Map();
    const rows = await this.db.query<{ item_key: string; status: ItemStatus; attempts: number }>(
      'SELECT item_key, status, attempts FROM ingest_items WHERE source = $1 AND item_key = ANY($2::text[])',
      [source, keys],
    );
    return new Map(rows.map((r) => [r.item_key, { status: r.status, attempts: r.attempts }]));
  }

  /** Upserts one row per item; a retried item keeps one row and counts its attempts. */
  async recordItems(runId: number, source: string, items: readonly ItemOutcome[]): Promise<void> {
    checkIds(items);
    if (items.length === 0) return;
    await this.db.query(
      `INSERT INTO ingest_items (source, item_key, run_id, status, error, image_id)
       SELECT $1, k, $2, s, e, i FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(k, s, e, i)
       ON CONFLICT (source, item_key) DO UPDATE SET run_id = EXCLUDED.run_id, status = EXCLUDED.status,
         error = EXCLUDED.error, image_id = EXCLUDED.image_id, attempts = ingest_items.attempts + 1,
         updated_at = now()`,
      [
        source,
        runId,
        items.map((i) => i.key),
        items.map((i) => i.status),
        items.map((i) => i.error ?? null),
        items.map((i) => i.imageId ?? null),
      ],
    );
  }

  async finishRun(runId: number, summary: Record<string, unknown>): Promise<void> {
    await this.db.query('UPDATE ingest_runs SET finished_at = now(), summary = $2::jsonb WHERE id = $1', [
      runId,
      JSON.stringify(summary),
    ]);
  }

  /**
   * Whether a reindex for `fingerprint` has visited every image to the end. Images still without
   * a vector after one are those whose files could not be read again, not an interrupted pass.
   */
  async reindexCompleted(fingerprint: string): Promise<boolean> {
    const rows = await this.db.query<{ done: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ingest_runs WHERE source = $1 AND options->>'fingerprint' = $2
         AND (summary->>'complete')::boolean) AS done`,
      [REINDEX_SOURCE, fingerprint],
    );
    return rows[0]?.done === true;
  }

  async failures(source: string, limit: number): Promise<{ key: string; error: string }[]> {
    checkLimit(limit);
    return this.db.query<{ key: string; error: string }>(
      `SELECT item_key AS key, coalesce(error, '') AS error FROM ingest_items
       WHERE source = $1 AND status = 'failed' ORDER BY item_key LIMIT $2`,
      [source, limit],
    );
  }
}
