import { performance } from 'node:perf_hooks';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { DecodeLimits } from '../media/image-decode.ts';
import type { Source, SourceItem } from '../media/sources/types.ts';
import type { Embedder } from '../models/types.ts';
import type { Db } from '../store/db.ts';
import { IngestRepository } from '../store/ingest.repository.ts';
import type { VectorBackend } from '../store/vector/types.ts';
import type { ItemOutcome } from './items.ts';
import { Tally, type IngestProgress, type IngestSummary } from './progress.ts';
import { assertSameSpace, embedNew, readAndDecode, storeBatch } from './steps.ts';
import { batches, mapConcurrent, prefetch, take } from './streams.ts';

export interface IngestDeps {
  db: Db;
  embedder: Embedder;
  indexes: VectorBackend;
  limits: DecodeLimits;
  logger: Logger;
}

export interface IngestOptions {
  /** Images per encoder call and per database transaction. @default 32 */
  batchSize?: number;
  /** Images read and decoded at once. @default 4 */
  concurrency?: number;
  /** Process at most this many items not finished by earlier runs. */
  limit?: number;
  /** Try again items an earlier run recorded as failed. @default false */
  retryFailed?: boolean;
  /** Save the HNSW files at most this often (they are also saved at the end). @default 60000 */
  checkpointEveryMs?: number;
  /** Called after each stored batch. */
  onProgress?: (progress: IngestProgress) => void;
  /**
   * Stops the run after the batch being stored: nothing more is read, what was read or embedded
   * but not stored is dropped (the ledger has no word on it, so the next run does it), then the
   * indexes are saved and the run is recorded as stopped.
   */
  signal?: AbortSignal;
}

/**
 * Indexes a source: list -> read + hash + decode -> batch -> embed (duplicates checked alongside)
 * -> store -> index -> checkpoint. Each stage is one call below; bounded queues between them keep memory
 * flat. Resumable: items recorded by earlier runs of the same source are skipped.
 */
export async function runIngest(
  source: Source,
  deps: IngestDeps,
  options: IngestOptions = {},
): Promise<IngestSummary> {
  const { db, embedder, indexes, logger } = deps;
  const batchSize = options.batchSize ?? 32;
  const concurrency = options.concurrency ?? 4;
  const checkpointEveryMs = options.checkpointEveryMs ?? 60_000;
  assertSameSpace(embedder, indexes);
  const ledger = new IngestRepository(db);
  const runId = await ledger.startRun(source.id, {
    batchSize,
    concurrency,
    limit: options.limit,
    fingerprint: embedder.fingerprint,
  });
  const tally = new Tally(source.id, runId, embedder.fingerprint);
  try {
    return await ingestRun(source, deps, options, {
      runId,
      ledger,
      tally,
      batchSize,
      concurrency,
      checkpointEveryMs,
    });
  } catch (error) {
    // A run that throws (a lost database, a full disk at checkpoint) is closed too, with what it
    // had done and why it ended, so the ledger never shows it as still running.
    await ledger
      .finishRun(runId, { ...tally.summary(), status: 'failed', error: describeError(error) })
      .catch((err: unknown) => logger.error({ err, runId }, 'could not record the failed run'));
    throw error;
  }
}

interface RunState {
  runId: number;
  ledger: IngestRepository;
  tally: Tally;
  batchSize: number;
  concurrency: number;
  checkpointEveryMs: number;
}

async function ingestRun(
  source: Source,
  deps: IngestDeps,
  options: IngestOptions,
  { runId, ledger, tally, batchSize, concurrency, checkpointEveryMs }: RunState,
): Promise<IngestSummary> {
  const { db, embedder, indexes, limits, logger } = deps;

  // 1. List lazily, skipping what earlier runs finished.
  const unfinished = skipFinished(source.items(), ledger, source.id, tally, options);
  const pending = take(unfinished, options.limit);
  // 2. Read, hash and decode, a few at a time.
  const decoded = mapConcurrent(pending, concurrency, (item) =>
    readAndDecode(item, embedder.preprocess, limits),
  );
  // 3. Batch; one batch is decoded ahead, so sharp works on batch n+1 while the encoder runs on n.
  const batched = prefetch(batches(decoded, batchSize), 1);
  // 4. Embed images and captions, checking for content already stored side by side (so the
  //    encoder never waits on the database); one embedded batch waits ahead of the store.
  const dedupe = { duplicateShare: 0 };
  const embedded = prefetch(
    mapConcurrent(batched, 1, (batch) => embedNew(db, embedder, batch, logger, dedupe)),
    1,
  );
  // 5. Store each batch in one transaction, then add it to the indexes; checkpoint now and then.
  let lastCheckpoint = performance.now();
  for await (const { items, truncated } of embedded) {
    if (options.signal?.aborted) break;
    const { outcomes, captions } = await storeBatch(
      { db, indexes, ledger: { runId, source: source.id } },
      items,
    );
    tally.record(outcomes, captions, truncated);
    const progress = tally.progress();
    logger.debug({ done: progress.done }, 'batch stored');
    options.onProgress?.(progress);
    if (performance.now() - lastCheckpoint >= checkpointEveryMs) {
      await indexes.checkpoint();
      lastCheckpoint = performance.now();
    }
  }
  // 6. Save the indexes and close the run's ledger entry.
  await indexes.checkpoint();
  const stopped = options.signal?.aborted ?? false;
  const summary: IngestSummary = { ...tally.summary(), stopped };
  await ledger.finishRun(runId, { ...summary, status: stopped ? 'stopped' : 'finished' });
  logOutcomes(logger, summary);
  return summary;
}

/** Yields items the ledger has no final word on; looks keys up in chunks to keep queries few. */
async function* skipFinished(
  items: AsyncIterable<SourceItem>,
  ledger: IngestRepository,
  sourceId: string,
  tally: Tally,
  options: Pick<IngestOptions, 'retryFailed' | 'signal'>,
): AsyncGenerator<SourceItem> {
  const CHUNK = 256;
  let chunk: SourceItem[] = [];
  const flush = async function* () {
    const known = await ledger.statuses(
      sourceId,
      chunk.map((i) => i.key),
    );
    for (const item of chunk) {
      if (options.signal?.aborted) break;
      const status = known.get(item.key)?.status;
      if (status === undefined || (status === 'failed' && options.retryFailed)) yield item;
      else tally.skip();
    }
    chunk = [];
  };
  for await (const item of items) {
    if (options.signal?.aborted) break;
    chunk.push(item);
    if (chunk.length >= CHUNK) yield* flush();
  }
  if (chunk.length > 0 && !options.signal?.aborted) yield* flush();
}

function logOutcomes(logger: Logger, summary: IngestSummary): void {
  logger.info(
    {
      indexed: summary.indexed,
      duplicates: summary.duplicates,
      failed: summary.failed,
      skipped: summary.skipped,
      elapsedMs: summary.elapsedMs,
    },
    'ingest finished',
  );
}

export type { IngestProgress, IngestSummary, ItemOutcome };
