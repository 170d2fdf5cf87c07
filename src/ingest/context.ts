import { closeAll } from '../close-all.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { openEmbedder } from '../models/open-embedder.ts';
import { openDb } from '../store/open-db.ts';
import { openIndexes } from '../store/vector/index-set.ts';
import type { IngestDeps } from './pipeline.ts';

export interface IngestContext extends IngestDeps {
  close(): Promise<void>;
}

/**
 * Everything the indexer CLI needs, wired from the config: encoders and projection (the current
 * models), the database, and the index set of the current fingerprint, reconciled with Postgres.
 */
export async function openIngestContext(config: Config, logger: Logger): Promise<IngestContext> {
  const closers: (() => Promise<void>)[] = [];
  // Every closer runs even when the indexes' final checkpoint fails: the database still closes.
  const close = () => closeAll(closers);
  try {
    const { embedder } = await openEmbedder(config, logger, closers);
    const db = await openDb(config, logger);
    closers.push(() => db.close());
    const indexes = await openIndexes({
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
