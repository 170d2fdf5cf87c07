import { closeAll } from '../close-all.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { DecodeLimits } from '../media/image-decode.ts';
import type { Embedder } from '../models/types.ts';
import type { Db } from '../store/db.ts';
import { openEmbedder } from '../models/open-embedder.ts';
import { openStore } from '../store/open-store.ts';
import { openVectorBackend, type OpenedBackend } from '../store/vector/backend.ts';
import type { IngestDeps } from './pipeline.ts';
import { requireServer } from './work-queue.ts';
import type { WorkerDeps } from './worker.ts';

export interface IngestContext extends IngestDeps {
  indexes: OpenedBackend;
  close(): Promise<void>;
}

/**
 * Everything the indexer CLI needs, wired from the config: encoders and projection (the current
 * models), the database, and the index set of the current fingerprint, reconciled with Postgres.
 */
export async function openIngestContext(
  config: Config,
  logger: Logger,
  options: { command?: string } = {},
): Promise<IngestContext> {
  const closers: (() => Promise<void>)[] = [];
  // Every closer runs even when the indexes' final checkpoint fails: the database still closes.
  const close = () => closeAll(closers);
  try {
    // The DATA_DIR lock before anything else touches the database or the index files.
    const store = await openStore(config, logger, { command: options.command ?? 'index' });
    closers.push(() => store.close());
    const db = store.db;
    const { embedder } = await openEmbedder(config, logger, closers);
    const indexes = await openVectorBackend({
      config,
      db,
      fingerprint: embedder.fingerprint,
      dims: embedder.dims,
      logger,
    });
    closers.push(() => indexes.close());
    const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
    return { db, embedder, indexes, limits, logger, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

export interface ReindexContext {
  config: Config;
  db: Db;
  embedder: Embedder;
  limits: DecodeLimits;
  logger: Logger;
  close(): Promise<void>;
}

/**
 * What `npm run reindex` needs: the current models and the database, with the DATA_DIR lock and,
 * on a shared server, the database to itself (no server or indexer may add rows meanwhile that
 * would never get vectors for the new models). No index set: the reindex builds its own.
 */
export async function openReindexContext(config: Config, logger: Logger): Promise<ReindexContext> {
  const closers: (() => Promise<void>)[] = [];
  const close = () => closeAll(closers);
  try {
    const store = await openStore(config, logger, { command: 'reindex', use: 'exclusive' });
    closers.push(() => store.close());
    const { embedder } = await openEmbedder(config, logger, closers);
    const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
    return { config, db: store.db, embedder, limits, logger, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

export interface WorkerContext extends WorkerDeps {
  close(): Promise<void>;
}

/**
 * What `npm run worker` needs: the current models and a PostgreSQL server (refused on embedded
 * PGlite before anything is opened). No index set and no DATA_DIR lock: a worker writes rows only
 * and reads nothing under DATA_DIR but the models, so several may share a machine.
 */
export async function openWorkerContext(config: Config, logger: Logger): Promise<WorkerContext> {
  if (config.databaseUrl === undefined) requireServer({ kind: 'pglite' }, 'npm run worker');
  const closers: (() => Promise<void>)[] = [];
  const close = () => closeAll(closers);
  try {
    const store = await openStore(config, logger, { command: 'worker', usesDataDir: false });
    closers.push(() => store.close());
    const { embedder } = await openEmbedder(config, logger, closers);
    const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
    return { db: store.db, embedder, limits, logger, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
