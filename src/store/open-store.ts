import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { holdDatabase, type DatabaseUse } from './database-lock.ts';
import type { Db } from './db.ts';
import { openDb, type SchemaPolicy } from './open-db.ts';
import { VectorChangesRepository } from './vector-changes.repository.ts';

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
  /**
   * Writes nothing under DATA_DIR (a `--read-only` server): on a PostgreSQL server it takes no
   * DATA_DIR lock, so any number of readers share the directory beside its one writer. Embedded
   * PGlite is single-process whatever the command, so there the lock is still taken. @default false
   */
  readOnly?: boolean;
  /** See SchemaPolicy. @default 'migrate' */
  schema?: SchemaPolicy;
  /** See DataDirLockOptions.staleMs. */
  lockStaleMs?: number;
}

/** What a process refused the DATA_DIR lock should do: it depends on who may share it. */
function lockAdvice(embedded: boolean, command: string): string {
  if (embedded)
    return (
      'The embedded database (PGlite) allows one process at a time, read-only servers included: stop ' +
      'that process, or use a PostgreSQL server (DATABASE_URL), where any number of `start --read-only` ' +
      'servers share a DATA_DIR beside its one writer.'
    );
  return command === 'start'
    ? 'A DATA_DIR has one writer: stop that process, or start this server with --read-only ' +
        '(readers take no lock), or give it a DATA_DIR of its own.'
    : 'A DATA_DIR has one writer: stop that process (read-only servers may keep running), or give ' +
        'this command a DATA_DIR of its own.';
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
  const embedded = config.databaseUrl === undefined;
  const needsLock = embedded || (options.usesDataDir !== false && options.readOnly !== true);
  const lock = needsLock
    ? await lockDataDir(config.dataDir, {
        command: options.command,
        logger,
        advice: lockAdvice(embedded, options.command),
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
    // The change log serves followers in other processes; embedded PGlite has none.
    if (db.kind === 'pglite') await new VectorChangesRepository(db).clearFinished();
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
