import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { holdDatabase, type DatabaseUse } from './database-lock.ts';
import type { Db } from './db.ts';
import { openDb, type SchemaPolicy } from './open-db.ts';

export interface Store {
  readonly db: Db;
  /** Held while the store is open; absent for a command that only touches a server's database. */
  readonly lock: DataDirLock | undefined;
  /** Releases the database lock, closes the database, then unlocks DATA_DIR. Idempotent. */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** Named in the message a second process gets: `start`, `index`, `reindex`, ... */
  command: string;
  /** `exclusive` refuses to run beside any other process on a shared server. @default 'shared' */
  use?: DatabaseUse;
  /**
   * Whether the command keeps files under DATA_DIR besides the database (the HNSW indexes). Only a
   * command that touches nothing there but a server's database (migrate with DATABASE_URL) skips
   * the DATA_DIR lock. @default true
   */
  usesDataDir?: boolean;
  /** See SchemaPolicy. @default 'migrate' */
  schema?: SchemaPolicy;
  /** See DataDirLockOptions.staleMs. */
  lockStaleMs?: number;
}

/**
 * The one way every command opens the store: the DATA_DIR lock first (PGlite allows one process,
 * so nothing may open it before the lock is ours), then the database (migrated), then, on a
 * PostgreSQL server, the advisory lock that keeps a reindex apart from servers and indexers.
 */
export async function openStore(
  config: Pick<Config, 'databaseUrl' | 'paths' | 'dataDir'>,
  logger: Logger,
  options: OpenStoreOptions,
): Promise<Store> {
  const needsLock = config.databaseUrl === undefined || options.usesDataDir !== false;
  const lock = needsLock
    ? await lockDataDir(config.dataDir, {
        command: options.command,
        logger,
        ...(options.lockStaleMs !== undefined ? { staleMs: options.lockStaleMs } : {}),
      })
    : undefined;
  let db: Db | undefined;
  let releaseUse: (() => Promise<void>) | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await releaseUse?.();
      await db?.close();
    } finally {
      await lock?.release();
    }
  };
  try {
    db = await openDb(config, logger, { schema: options.schema ?? 'migrate' });
    // Embedded PGlite is one process, kept so by the DATA_DIR lock; a server needs its own lock.
    if (config.databaseUrl !== undefined)
      releaseUse = await holdDatabase(config.databaseUrl, options.use ?? 'shared', {
        command: options.command,
        logger,
      });
  } catch (error) {
    await close().catch((err: unknown) => logger.error({ err }, 'closing the store failed'));
    throw error;
  }
  return { db, lock, close };
}
