import { writeFile } from 'node:fs/promises';
import type { Config } from '../../src/config.ts';
import { enqueueSource, requireServer } from '../../src/ingest/index.ts';
import type { Logger } from '../../src/logger.ts';
import type { Source } from '../../src/media/sources/index.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
import { IngestRepository } from '../../src/store/ingest.repository.ts';
import { openStore } from '../../src/store/open-store.ts';
import { WorkQueueRepository } from '../../src/store/work-queue.repository.ts';
import { INGEST_EXIT } from './cli.ts';

/** `index <source> --enqueue`: lists the source into the work queue of the server. */
export async function enqueue(
  config: Config,
  logger: Logger,
  source: Source,
  flags: { retryFailed?: boolean; limit?: number; json?: string; signal: AbortSignal },
): Promise<number> {
  // index.ts has refused embedded PGlite before reading the source.
  const store = await openStore(config, logger, { command: 'index --enqueue', usesDataDir: false });
  try {
    const summary = await enqueueSource(source, store.db, {
      retryFailed: flags.retryFailed ?? false,
      ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      signal: flags.signal,
    });
    const counts = await new WorkQueueRepository(store.db).counts();
    console.log(
      [
        `source ${summary.source}: queued ${summary.queued} items for \`npm run worker\``,
        `  already queued:   ${summary.alreadyQueued}`,
        `  finished earlier: ${summary.finished} (by \`index\` or workers; --retry-failed queues failed ones again)`,
        `  queue now:        ${counts.pending} pending, ${counts.claimed + counts.expired} claimed, ${counts.done} done, ${counts.failed} failed`,
        '  stored per item: its key, uri, file path and source root, captions and metadata (not the image bytes:',
        '  workers read the file, so the path must be reachable from every worker machine)',
      ].join('\n'),
    );
    if (flags.json)
      await writeFile(flags.json, `${JSON.stringify({ ...summary, queue: counts }, null, 2)}\n`);
    return INGEST_EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * `index --status`: the queue's counts and the live workers, from any machine with DATABASE_URL.
 * A read-only look: no DATA_DIR lock and no database lock, so it also works during a reindex.
 * Exits 1 when some items failed, like the indexing commands.
 */
export async function printQueueStatus(
  config: Config,
  logger: Logger,
  json: string | undefined,
): Promise<number> {
  if (config.databaseUrl === undefined) requireServer({ kind: 'pglite' }, 'npm run index -- --status');
  const db = await openDb(config, logger);
  try {
    const queue = new WorkQueueRepository(db);
    const counts = await queue.counts();
    const workers = await queue.liveWorkers();
    const lines = [
      'work queue',
      `  pending: ${counts.pending}`,
      `  claimed: ${counts.claimed}${counts.expired > 0 ? ` (+${counts.expired} whose lease ran out: another worker takes them over)` : ''}`,
      `  done:    ${counts.done}`,
      `  failed:  ${counts.failed}`,
      `live workers: ${workers.length}`,
      ...workers.map(
        (w) =>
          `  ${w.id}  started ${w.startedAt}, last seen ${w.heartbeatAt}, ${w.done} done, ${w.failed} failed`,
      ),
    ];
    console.log(lines.join('\n'));
    if (json) await writeFile(json, `${JSON.stringify({ queue: counts, workers }, null, 2)}\n`);
    return counts.failed > 0 ? INGEST_EXIT.itemsFailed : INGEST_EXIT.ok;
  } finally {
    await db.close();
  }
}

/** At most this many failed items are printed; the count says how many there are in all. */
const LIST_FAILED_LIMIT = 1000;

/**
 * `index <source> --list-failed`: every item of the source that a run (local or a worker) recorded
 * as failed, with its reason. Reads only; on embedded PGlite it needs the DATA_DIR like any other
 * command. Exits 1 when there are failed items, like the indexing commands.
 */
export async function printFailed(
  config: Config,
  logger: Logger,
  sourceId: string,
  json: string | undefined,
): Promise<number> {
  const store = await openStore(config, logger, {
    command: 'index --list-failed',
    schema: 'check',
    readOnly: true,
    usesDataDir: false,
  });
  try {
    const failed = await failedItems(store.db, sourceId, LIST_FAILED_LIMIT + 1);
    const shown = failed.slice(0, LIST_FAILED_LIMIT);
    console.log(
      [
        `source ${sourceId}: ${failed.length > LIST_FAILED_LIMIT ? `more than ${LIST_FAILED_LIMIT}` : failed.length} failed items`,
        ...shown.map((f) => `  ${f.key}\t${f.error}`),
        ...(failed.length > LIST_FAILED_LIMIT ? [`  ... (the first ${LIST_FAILED_LIMIT} by key)`] : []),
        ...(failed.length > 0 ? ['fix them and run the same command with --retry-failed'] : []),
      ].join('\n'),
    );
    if (json) await writeFile(json, `${JSON.stringify({ source: sourceId, failed: shown }, null, 2)}\n`);
    return failed.length > 0 ? INGEST_EXIT.itemsFailed : INGEST_EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * The ledger's failed items, and on a server also the queue's (an item no worker could finish is
 * failed only there), one per key, sorted by key.
 */
async function failedItems(db: Db, source: string, limit: number): Promise<{ key: string; error: string }[]> {
  const byKey = new Map((await new IngestRepository(db).failures(source, limit)).map((f) => [f.key, f]));
  if (db.kind === 'postgres') {
    for (const f of await new WorkQueueRepository(db).failed(source, limit))
      if (!byKey.has(f.key)) byKey.set(f.key, f);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, limit);
}
