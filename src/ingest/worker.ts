import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.ts';
import type { DecodeLimits } from '../media/image-decode.ts';
import type { Embedder } from '../models/types.ts';
import type { Db, Queryable } from '../store/db.ts';
import { ChangeLogPruner } from '../store/change-log-pruner.ts';
import { rowsOnly } from '../store/index-lifecycle.ts';
import { IngestRepository } from '../store/ingest.repository.ts';
import { WorkQueueRepository, type ClaimedItem } from '../store/work-queue.repository.ts';
import { isFailed, type ItemOutcome } from './items.ts';
import { embedNew, readAndDecode, storeBatch, type ClaimGuard } from './steps.ts';
import { mapConcurrent } from './streams.ts';
import { requireServer, toSourceItem } from './work-queue.ts';

export interface WorkerDeps {
  db: Db;
  embedder: Embedder;
  limits: DecodeLimits;
  logger: Logger;
}

export interface WorkerOptions {
  /** Unique per process: shown by `index --status`, written on its claims. */
  id: string;
  host: string;
  /** Items per claim, encoder call and transaction. @default 32 */
  batchSize?: number;
  /** Items read and decoded at once. @default 4 */
  concurrency?: number;
  /** How long a claim stays ours without a heartbeat. @default 60000 */
  leaseMs?: number;
  /** An item claimed this many times whose lease ran out again is failed for good. @default 3 */
  maxAttempts?: number;
  /** Stop once nothing is pending or claimed by anyone. @default false */
  exitWhenIdle?: boolean;
  /** Resolves when new work may have arrived, or after `ms` (the polling fallback). @default sleeps */
  waitForWork?: (ms: number) => Promise<void>;
  /** How long to wait for work between claims when the queue is empty. @default 1000 */
  idleMs?: number;
  /** Stops after the batch being stored; what is still claimed goes back to the queue. */
  signal?: AbortSignal;
  onBatch?: (tally: WorkerTally) => void;
}

export interface WorkerTally {
  indexed: number;
  duplicates: number;
  failed: number;
  /** Claimed items another worker took over (our lease ran out) before we could store them. */
  lost: number;
  batches: number;
}

/**
 * `npm run worker`: claims batches from the work queue and runs them through the same steps as
 * `npm run index` (read + decode, embed, store). It writes rows only: the HNSW files are a read
 * model that API processes (following the vector tables) and `reindex` derive.
 */
export async function runWorker(deps: WorkerDeps, options: WorkerOptions): Promise<WorkerTally> {
  const { db, logger } = deps;
  requireServer(db, 'npm run worker');
  const leaseMs = options.leaseMs ?? 60_000;
  const queue = new WorkQueueRepository(db);
  const tally: WorkerTally = { indexed: 0, duplicates: 0, failed: 0, lost: 0, batches: 0 };
  const runs = new Map<string, number>();
  const wait = options.waitForWork ?? ((ms: number) => sleep(ms));
  const pruner = new ChangeLogPruner(db);
  await queue.registerWorker(options.id, options.host, process.pid, leaseMs);
  logger.info({ worker: options.id, leaseMs }, 'worker started');
  try {
    while (!options.signal?.aborted) {
      await queue.failAbandoned(options.maxAttempts ?? 3);
      // Workers keep the replicas' change log bounded too, in case no API process follows.
      await pruner.tick();
      const { token, items } = await queue.claim(options.id, options.batchSize ?? 32, leaseMs);
      await beatWorker(queue, options.id, tally);
      if (items.length === 0) {
        if (options.exitWhenIdle && (await queueEmpty(queue))) break;
        await wait(options.idleMs ?? 1000);
        continue;
      }
      logger.debug({ items: items.length, first: items[0]!.id }, 'batch claimed');
      // The heartbeat keeps the claims ours while the batch is embedded; a worker that dies
      // stops beating and its items go to another worker once the lease runs out.
      const beat = setInterval(
        () => {
          Promise.all([queue.extendLease(token, leaseMs), beatWorker(queue, options.id, tally)]).catch(
            (err: unknown) => logger.warn({ err }, 'lease heartbeat failed'),
          );
        },
        Math.max(50, Math.floor(leaseMs / 3)),
      );
      try {
        await processBatch(deps, options, { token, items, runs, tally });
      } finally {
        clearInterval(beat);
        // Anything still held under this token (a batch that could not be stored) goes back.
        await queue.release(token);
      }
      tally.batches++;
      options.onBatch?.({ ...tally });
    }
  } finally {
    await queue.workerStopped(options.id).catch(() => undefined);
    for (const runId of runs.values())
      await new IngestRepository(db)
        .finishRun(runId, { ...tally, worker: options.id })
        .catch(() => undefined);
  }
  logger.info({ worker: options.id, ...tally }, 'worker stopped');
  return tally;
}

function beatWorker(queue: WorkQueueRepository, id: string, tally: WorkerTally): Promise<void> {
  return queue.workerHeartbeat(id, { done: tally.indexed + tally.duplicates, failed: tally.failed });
}

async function queueEmpty(queue: WorkQueueRepository): Promise<boolean> {
  const c = await queue.counts();
  return c.pending + c.claimed + c.expired === 0;
}

async function processBatch(
  deps: WorkerDeps,
  options: WorkerOptions,
  batch: { token: string; items: ClaimedItem[]; runs: Map<string, number>; tally: WorkerTally },
): Promise<void> {
  const { db, embedder, limits, logger } = deps;
  const { token, items, runs, tally } = batch;
  const sources = items.map((row) => toSourceItem(row, limits.maxBytes));
  const decoded = [];
  for await (const d of mapConcurrent(list(sources), options.concurrency ?? 4, (item) =>
    readAndDecode(item, embedder.preprocess, limits),
  ))
    decoded.push(d);
  const embedded = await embedNew(db, embedder, decoded, logger, { duplicateShare: 0 });
  // One ledger run per source this worker touches; a claim may span sources.
  for (const source of new Set(items.map((i) => i.source))) {
    const keys = new Set(items.filter((i) => i.source === source).map((i) => i.key));
    let runId = runs.get(source);
    if (runId === undefined) {
      runId = await new IngestRepository(db).startRun(source, {
        worker: options.id,
        fingerprint: embedder.fingerprint,
      });
      runs.set(source, runId);
    }
    const group = embedded.items.filter((item) => keys.has(item.key));
    const { outcomes } = await storeBatch(
      { db, indexes: rowsOnly(embedder), ledger: { runId, source }, claims: guard(source, token) },
      group,
    );
    count(tally, outcomes);
    tally.lost += group.length - outcomes.length;
    if (group.length > outcomes.length)
      logger.warn(
        { source, lost: group.length - outcomes.length },
        'items taken over by another worker after our lease ran out; not stored twice',
      );
  }
  const failedReads = embedded.items.filter(isFailed).length;
  logger.debug({ items: items.length, failedReads }, 'batch stored');
}

function guard(source: string, token: string): ClaimGuard {
  return {
    hold: (tx: Queryable, keys) => new WorkQueueRepository(tx).hold(source, keys, token),
    finish: (tx: Queryable, outcomes: readonly ItemOutcome[]) =>
      new WorkQueueRepository(tx).finish(
        source,
        token,
        outcomes.map((o) =>
          o.status === 'failed'
            ? { key: o.key, status: o.status, error: o.error }
            : { key: o.key, status: o.status, imageId: o.imageId },
        ),
      ),
  };
}

function count(tally: WorkerTally, outcomes: readonly ItemOutcome[]): void {
  for (const o of outcomes) {
    if (o.status === 'indexed') tally.indexed++;
    else if (o.status === 'duplicate') tally.duplicates++;
    else tally.failed++;
  }
}

async function* list<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
