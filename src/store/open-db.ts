import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { openPgDb } from './pg-db.ts';
import { openPgliteDb } from './pglite-db.ts';

/**
 * The database the config names (a server, or embedded PGlite under DATA_DIR/pg), migrated.
 * Commands use openStore, which takes the DATA_DIR lock first; only tests that hold the directory
 * by construction (nothing else runs on it) call this directly.
 */
export async function openDb(config: Pick<Config, 'databaseUrl' | 'paths'>, logger?: Logger): Promise<Db> {
  const db = config.databaseUrl ? await openPgDb(config.databaseUrl) : await openPgliteDb(config.paths.pg);
  try {
    await migrate(db, logger ? { logger } : {});
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  logger?.debug({ kind: db.kind }, 'database ready');
  return db;
}
