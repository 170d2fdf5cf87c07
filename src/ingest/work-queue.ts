import { AppError, describeError } from '../errors.ts';
import { readFileInside } from '../media/sources/safe-path.ts';
import type { Source, SourceItem } from '../media/sources/types.ts';
import type { Db } from '../store/db.ts';
import { IngestRepository } from '../store/ingest.repository.ts';
import { WorkQueueRepository, type ClaimedItem, type QueuedItem } from '../store/work-queue.repository.ts';

/**
 * The queue side of indexer workers: `npm run index -- <source> --enqueue` lists a source into
 * Postgres and `npm run worker` turns queued rows back into source items. Only a server database
 * can be shared by several processes, so both refuse embedded PGlite with the fix in the message.
 */

export function requireServer(db: Pick<Db, 'kind'>, command: string): void {
  if (db.kind !== 'postgres')
    throw new AppError(
      'BAD_CONFIG',
      `${command} needs a PostgreSQL server shared by every worker: set DATABASE_URL=postgresql://... ` +
        '(embedded PGlite, used when DATABASE_URL is unset, is one process). Without workers, ' +
        '`npm run index -- <source>` indexes in this process.',
    );
}

export interface EnqueueSummary {
  source: string;
  /** Items added to the queue now (or put back, with retryFailed). */
  queued: number;
  /** Items the queue already held (pending, claimed, done or failed). */
  alreadyQueued: number;
  /** Items the ingest ledger already finished (indexed or duplicate; failed unless retryFailed). */
  finished: number;
}

const CHUNK = 500;

/** Lists `source` into the work queue, skipping what the ledger or the queue already holds. */
export async function enqueueSource(
  source: Source,
  db: Db,
  options: { retryFailed?: boolean; limit?: number; signal?: AbortSignal } = {},
): Promise<EnqueueSummary> {
  requireServer(db, 'npm run index -- --enqueue');
  const queue = new WorkQueueRepository(db);
  const ledger = new IngestRepository(db);
  const summary: EnqueueSummary = { source: source.id, queued: 0, alreadyQueued: 0, finished: 0 };
  let chunk: SourceItem[] = [];
  let taken = 0;
  const flush = async () => {
    const known = await ledger.statuses(
      source.id,
      chunk.map((i) => i.key),
    );
    const open = chunk.filter((i) => {
      const status = known.get(i.key)?.status;
      return status === undefined || (status === 'failed' && options.retryFailed === true);
    });
    summary.finished += chunk.length - open.length;
    const rows = await Promise.all(open.map((i) => toQueued(source, i)));
    const queued = await queue.enqueue(rows, { retryFailed: options.retryFailed ?? false });
    summary.queued += queued;
    summary.alreadyQueued += rows.length - queued;
    chunk = [];
  };
  for await (const item of source.items()) {
    if (options.signal?.aborted || (options.limit !== undefined && taken >= options.limit)) break;
    chunk.push(item);
    taken++;
    if (chunk.length >= CHUNK) await flush();
  }
  if (chunk.length > 0) await flush();
  return summary;
}

async function toQueued(source: Source, item: SourceItem): Promise<QueuedItem> {
  const base = {
    source: source.id,
    key: item.key,
    uri: item.uri,
    captions: item.captions,
    metadata: item.metadata,
  };
  if (item.file !== undefined) return { ...base, file: item.file, root: source.root };
  // No file: the listing already knows why it cannot be read (a failing read rejects at once).
  const listingError = await item.read().then(
    () => 'SOURCE_INVALID: the item has no file path a worker could read',
    (error: unknown) => describeError(error),
  );
  return { ...base, listingError };
}

/** A queued row as a source item again: read from its file inside its root, as the listing would. */
export function toSourceItem(row: ClaimedItem, maxBytes: number): SourceItem {
  const { key, uri, captions, metadata } = row;
  const base = { key, uri, captions: [...captions], metadata };
  if (row.file === undefined || row.root === undefined) {
    const [code, ...rest] = (row.listingError ?? 'SOURCE_INVALID: no file').split(': ');
    const error = new AppError(asCode(code), rest.join(': ') || code!);
    return { ...base, read: () => Promise.reject(error) };
  }
  const { file, root } = row;
  return { ...base, file, read: () => readFileInside(root, file, maxBytes) };
}

/** The stored reason keeps its code, so the summary groups queued failures as a local run does. */
function asCode(code: string | undefined): 'FORBIDDEN' | 'NOT_FOUND' | 'SOURCE_INVALID' {
  return code === 'FORBIDDEN' || code === 'NOT_FOUND' ? code : 'SOURCE_INVALID';
}
