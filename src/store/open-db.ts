import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Db } from './db.ts';
import { checkSchema, migrate } from './migrate.ts';
import { openPgDb } from './pg-db.ts';
import { openPgliteDb } from './pglite-db.ts';

/**
 * What a command does about the schema on a server: `migrate` applies what is pending (DDL only
 * when something is); `check` runs no DDL and refuses a schema that is behind, so a server can run
 * as a role that may only read and write rows. Embedded PGlite always migrates: the process owns
 * that database, and `npm run demo` stays one command.
 */
export type SchemaPolicy = 'migrate' | 'check';

/**
 * The database the config names (a server, or embedded PGlite under DATA_DIR/pg), migrated or
 * checked. Commands use openStore, which takes the DATA_DIR lock first; only tests that hold the
 * directory by construction (nothing else runs on it) call this directly.
 */
export async function openDb(
  config: Pick<Config, 'databaseUrl' | 'paths'>,
  logger?: Logger,
  options: { schema?: SchemaPolicy } = {},
): Promise<Db> {
  const db = config.databaseUrl ? await openPgDb(config.databaseUrl) : await openPgliteDb(config.paths.pg);
  try {
    if (options.schema === 'check' && db.kind === 'postgres') {
      const { current } = await checkSchema(db);
      logger?.debug({ schema: current }, 'database schema is current');
    } else await migrate(db, logger ? { logger } : {});
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  logger?.debug({ kind: db.kind }, 'database ready');
  return db;
}
