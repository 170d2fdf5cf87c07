import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Connection, Db } from './db.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Any constant works; it only has to be the same in every process of this application. */
const MIGRATION_LOCK_KEY = 72_310_455;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number(file.slice(0, 3)),
      name: file,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  const versions = migrations.map((m) => m.version);
  if (new Set(versions).size !== versions.length) {
    throw new AppError('MIGRATION_CONFLICT', `Two migration files share a version number in ${dir}`);
  }
  return migrations;
}

/**
 * Applies pending migrations in order, each once and in its own transaction, while holding a
 * session advisory lock: of two processes starting together one migrates and the other waits,
 * then finds nothing left to do. Refuses a database that is ahead of this code. A database that is
 * already current gets no DDL at all, so a role without CREATE privileges passes through.
 */
export async function migrate(
  db: Db,
  options: { logger?: Logger; dir?: string } = {},
): Promise<{ applied: string[] }> {
  const migrations = await readMigrations(options.dir);
  return db.session(async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await applyPending(conn, migrations, options.logger);
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}

/**
 * For a command that must not change the schema (a server started as a least-privilege role):
 * reads the ledger, runs no DDL, and refuses a database that is behind (MIGRATION_REQUIRED, naming
 * `npm run migrate`) or ahead of this code (MIGRATION_CONFLICT).
 */
export async function checkSchema(
  db: Db,
  options: { dir?: string } = {},
): Promise<{ current: string | undefined }> {
  const migrations = await readMigrations(options.dir);
  const done = (await db.session((conn) => readLedger(conn))) ?? [];
  refuseUnknown(done, migrations);
  const doneVersions = new Set(done.map((d) => d.version));
  const pending = migrations.filter((m) => !doneVersions.has(m.version));
  if (pending.length > 0) {
    throw new AppError(
      'MIGRATION_REQUIRED',
      `The database is ${done.length === 0 ? 'not set up yet' : `at ${done.at(-1)!.name}`}, and this code needs ` +
        `${pending.map((m) => m.name).join(', ')}: run \`npm run migrate\` with the same DATABASE_URL as the database's owner, then start again`,
    );
  }
  return { current: done.at(-1)?.name };
}

interface Applied {
  version: number;
  name: string;
  checksum: string;
}

const LEDGER_COLUMNS = ['version', 'name', 'checksum'];

/**
 * The applied migrations, or undefined when there is no ledger yet. A `schema_migrations` table
 * made by another tool (Rails, Flyway, golang-migrate use that name too) is refused by its columns,
 * before any query trips over them.
 */
async function readLedger(conn: Connection): Promise<Applied[] | undefined> {
  const columns = await conn.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute
     WHERE attrelid = to_regclass('schema_migrations') AND attnum > 0 AND NOT attisdropped`,
  );
  if (columns.length === 0) return undefined;
  const names = columns.map((c) => c.name);
  if (!LEDGER_COLUMNS.every((c) => names.includes(c))) {
    throw new AppError(
      'MIGRATION_CONFLICT',
      `The database already has a schema_migrations table that another tool made (columns: ${names.join(', ')}): ` +
        'give this application a database of its own (create one and point DATABASE_URL at it)',
    );
  }
  return conn.query<Applied>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
}

function refuseUnknown(done: Applied[], migrations: Migration[]): void {
  const known = new Set(migrations.map((m) => m.version));
  const unknown = done.filter((d) => !known.has(d.version));
  if (unknown.length > 0) {
    throw new AppError(
      'MIGRATION_CONFLICT',
      `The database has migrations this code does not know (${unknown.map((u) => u.name).join(', ')}): ` +
        'it was migrated by a newer version. Upgrade the code, or point DATABASE_URL/DATA_DIR elsewhere.',
    );
  }
}

/** SQLSTATE 42501: the role may not create or alter what a migration does. */
const INSUFFICIENT_PRIVILEGE = '42501';

async function applyPending(conn: Connection, migrations: Migration[], logger?: Logger) {
  let done = await readLedger(conn);
  if (done === undefined) {
    await conn
      .exec(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`,
      )
      .catch((error: unknown) => {
        throw migrationError('the migration ledger (schema_migrations)', error);
      });
    done = [];
  }
  refuseUnknown(done, migrations);
  const known = new Map(migrations.map((m) => [m.version, m]));
  for (const d of done) {
    if (known.get(d.version)?.checksum !== d.checksum) {
      logger?.warn({ migration: d.name }, 'applied migration file has changed since it was applied');
    }
  }
  const doneVersions = new Set(done.map((d) => d.version));
  const applied: string[] = [];
  for (const m of migrations) {
    if (doneVersions.has(m.version)) continue;
    await conn.exec('BEGIN');
    try {
      await conn.exec(m.sql);
      await conn.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
      await conn.exec('COMMIT');
    } catch (error) {
      await conn.exec('ROLLBACK').catch(() => undefined);
      throw migrationError(`Migration ${m.name}`, error);
    }
    applied.push(m.name);
    logger?.info({ migration: m.name }, 'applied migration');
  }
  return { applied };
}

function migrationError(what: string, error: unknown): AppError {
  if ((error as { code?: unknown }).code === INSUFFICIENT_PRIVILEGE) {
    return new AppError(
      'MIGRATION_REQUIRED',
      `${what} cannot be applied: this database role may not change the schema ` +
        `(${(error as Error).message}). Run \`npm run migrate\` as the database's owner, then run this command again`,
      { cause: error },
    );
  }
  return new AppError('MIGRATION_CONFLICT', `${what} failed: ${(error as Error).message}`, { cause: error });
}
