import type { Queryable } from './db.ts';
import { checkIds, checkLimit } from './limits.ts';

/** One source item as queued: where to read it and what comes with it, never its bytes. */
export interface QueuedItem {
  source: string;
  key: string;
  uri: string;
  /** Absolute path of the image file; absent when the listing already knows it cannot be read. */
  file?: string | undefined;
  /** Directory the file must stay inside, symlinks resolved (the source's root). */
  root?: string | undefined;
  captions: readonly string[];
  metadata: Record<string, unknown>;
  /** Why the item cannot be read, when the listing found out (`CODE: message`). */
  listingError?: string | undefined;
}

export interface ClaimedItem extends QueuedItem {
  id: number;
  attempts: number;
}

export interface QueueCounts {
  pending: number;
  /** Claimed under a lease that is still running. */
  claimed: number;
  /** Claimed, but the lease ran out: another worker will take them over. */
  expired: number;
  done: number;
  failed: number;
}

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string;
  done: number;
  failed: number;
}

export interface Finished {
  key: string;
  status: 'indexed' | 'duplicate' | 'failed';
  imageId?: number | undefined;
  error?: string | undefined;
}

type Row = {
  id: number;
  source: string;
  item_key: string;
  uri: string;
  file: string | null;
  root: string | null;
  captions: string[];
  metadata: Record<string, unknown>;
  listing_error: string | null;
  attempts: number;
};

/** The work queue of indexer workers (migrations/003): every statement it runs. */
export class WorkQueueRepository {
  constructor(private readonly db: Queryable) {}

  /** Adds items not queued yet; `retryFailed` puts failed ones back. Returns how many were queued. */
  async enqueue(items: readonly QueuedItem[], options: { retryFailed?: boolean } = {}): Promise<number> {
    checkIds(items);
    if (items.length === 0) return 0;
    const onConflict = options.retryFailed
      ? `DO UPDATE SET status = 'pending', error = NULL, attempts = 0, finished_at = NULL,
           uri = EXCLUDED.uri, file = EXCLUDED.file, root = EXCLUDED.root, captions = EXCLUDED.captions,
           metadata = EXCLUDED.metadata, listing_error = EXCLUDED.listing_error
         WHERE work_items.status = 'failed'`
      : 'DO NOTHING';
    const rows = await this.db.query<{ id: number }>(
      `INSERT INTO work_items (source, item_key, uri, file, root, captions, metadata, listing_error)
       SELECT $1, k, u, f, r, ARRAY(SELECT jsonb_array_elements_text(c)), m, e
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[])
         AS t(k, u, f, r, c, m, e)
       ON CONFLICT (source, item_key) ${onConflict} RETURNING id`,
      [
        items[0]!.source,
        items.map((i) => i.key),
        items.map((i) => i.uri),
        items.map((i) => i.file ?? null),
        items.map((i) => i.root ?? null),
        items.map((i) => JSON.stringify(i.captions)),
        items.map((i) => JSON.stringify(i.metadata)),
        items.map((i) => i.listingError ?? null),
      ],
    );
    return rows.length;
  }

  /**
   * Claims up to `limit` items, pending ones or those whose lease ran out, in id order, skipping
   * rows another worker is claiming right now (`FOR UPDATE SKIP LOCKED`). Each claim gets a new
   * token: a worker whose lease was taken over can no longer commit the item.
   */
  async claim(
    worker: string,
    limit: number,
    leaseMs: number,
  ): Promise<{ token: string; items: ClaimedItem[] }> {
    checkLimit(limit);
    const rows = await this.db.query<Row & { token: string }>(
      `WITH picked AS (
         SELECT id FROM work_items
         WHERE status = 'pending' OR (status = 'claimed' AND lease_until < now())
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
       ), token AS (SELECT gen_random_uuid() AS t)
       UPDATE work_items w SET status = 'claimed', worker = $1, lease_token = token.t,
         lease_until = now() + $3 * interval '1 millisecond', attempts = w.attempts + 1
       FROM picked, token WHERE w.id = picked.id
       RETURNING w.id, w.source, w.item_key, w.uri, w.file, w.root, w.captions, w.metadata,
         w.listing_error, w.attempts, token.t::text AS token`,
      [worker, limit, leaseMs],
    );
    rows.sort((a, b) => a.id - b.id);
    return { token: rows[0]?.token ?? '', items: rows.map(toClaimed) };
  }

  /** Items that were claimed `maxAttempts` times and whose last lease ran out: failed for good. */
  async failAbandoned(maxAttempts: number): Promise<number> {
    const rows = await this.db.query<{ id: number }>(
      `UPDATE work_items SET status = 'failed', finished_at = now(), lease_token = NULL,
         error = 'WORKER_LOST: claimed ' || attempts || ' times; every worker holding it stopped before finishing'
       WHERE status = 'claimed' AND lease_until < now() AND attempts >= $1 RETURNING id`,
      [maxAttempts],
    );
    return rows.length;
  }

  /**
   * The source's items that failed in the queue, by key: those no worker could finish
   * (WORKER_LOST) are recorded only here, the rest also in the ingest ledger.
   */
  async failed(source: string, limit: number): Promise<{ key: string; error: string }[]> {
    checkLimit(limit);
    return this.db.query<{ key: string; error: string }>(
      `SELECT item_key AS key, coalesce(error, '') AS error FROM work_items
       WHERE source = $1 AND status = 'failed' ORDER BY item_key LIMIT $2`,
      [source, limit],
    );
  }

  /** Extends the lease of every item still held under `token`. */
  async extendLease(token: string, leaseMs: number): Promise<number> {
    const rows = await this.db.query<{ id: number }>(
      `UPDATE work_items SET lease_until = now() + $2 * interval '1 millisecond'
       WHERE lease_token = $1::uuid AND status = 'claimed' RETURNING id`,
      [token, leaseMs],
    );
    return rows.length;
  }

  /**
   * Inside the storing transaction: locks the items of `source` still held under `token` and
   * returns their keys. Anything another worker took over is left out, so it is written once.
   */
  async hold(source: string, keys: readonly string[], token: string): Promise<Set<string>> {
    checkIds(keys);
    const rows = await this.db.query<{ item_key: string }>(
      `SELECT item_key FROM work_items
       WHERE source = $1 AND item_key = ANY($2::text[]) AND lease_token = $3::uuid AND status = 'claimed'
       FOR UPDATE`,
      [source, keys, token],
    );
    return new Set(rows.map((r) => r.item_key));
  }

  /** Inside the storing transaction: records each held item's outcome. */
  async finish(source: string, token: string, items: readonly Finished[]): Promise<void> {
    checkIds(items);
    if (items.length === 0) return;
    await this.db.query(
      `UPDATE work_items w SET status = CASE WHEN u.s = 'failed' THEN 'failed' ELSE 'done' END,
         outcome = CASE WHEN u.s = 'failed' THEN NULL ELSE u.s END, image_id = u.i, error = u.e,
         finished_at = now(), lease_token = NULL, lease_until = NULL
       FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[]) AS u(k, s, i, e)
       WHERE w.source = $1 AND w.item_key = u.k AND w.lease_token = $2::uuid`,
      [
        source,
        token,
        items.map((i) => i.key),
        items.map((i) => i.status),
        items.map((i) => i.imageId ?? null),
        items.map((i) => i.error ?? null),
      ],
    );
  }

  /** Gives back what is still held under `token` (a worker stopping cleanly mid-batch). */
  async release(token: string): Promise<void> {
    await this.db.query(
      `UPDATE work_items SET status = 'pending', lease_token = NULL, lease_until = NULL, worker = NULL,
         attempts = greatest(attempts - 1, 0)
       WHERE lease_token = $1::uuid AND status = 'claimed'`,
      [token],
    );
  }

  async counts(): Promise<QueueCounts> {
    const rows = await this.db.query<QueueCounts>(
      `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
         count(*) FILTER (WHERE status = 'claimed' AND lease_until >= now())::int AS claimed,
         count(*) FILTER (WHERE status = 'claimed' AND lease_until < now())::int AS expired,
         count(*) FILTER (WHERE status = 'done')::int AS done,
         count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM work_items`,
    );
    return rows[0]!;
  }

  async registerWorker(id: string, host: string, pid: number, leaseMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO work_workers (id, host, pid, lease_ms) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL, lease_ms = EXCLUDED.lease_ms`,
      [id, host, pid, leaseMs],
    );
  }

  async workerHeartbeat(id: string, tally: { done: number; failed: number }): Promise<void> {
    await this.db.query(
      'UPDATE work_workers SET heartbeat_at = now(), done = $2, failed = $3 WHERE id = $1',
      [id, tally.done, tally.failed],
    );
  }

  async workerStopped(id: string): Promise<void> {
    await this.db.query('UPDATE work_workers SET stopped_at = now(), heartbeat_at = now() WHERE id = $1', [
      id,
    ]);
  }

  /** Workers not stopped that beat within their lease (a silent one is presumed dead). */
  async liveWorkers(): Promise<WorkerRow[]> {
    return this.db.query<WorkerRow>(
      `SELECT id, host, pid, started_at::text AS "startedAt", heartbeat_at::text AS "heartbeatAt", done, failed
       FROM work_workers
       WHERE stopped_at IS NULL AND heartbeat_at > now() - lease_ms * interval '1 millisecond'
       ORDER BY started_at, id`,
    );
  }
}

function toClaimed(r: Row): ClaimedItem {
  return {
    id: r.id,
    source: r.source,
    key: r.item_key,
    uri: r.uri,
    file: r.file ?? undefined,
    root: r.root ?? undefined,
    captions: r.captions,
    metadata: r.metadata,
    listingError: r.listing_error ?? undefined,
    attempts: r.attempts,
  };
}
