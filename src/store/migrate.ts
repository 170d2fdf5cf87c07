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
 * then finds nothing left to do. Refuses a database that is ahead of this code.
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

async function applyPending(conn: Connection, migrations: Migration[], logger?: Logger) {
  await conn.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const done = await conn.query<{ version: number; name: string; checksum: string }>(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  const known = new Map(migrations.map((m) => [m.version, m]));
  const unknown = done.filter((d) => !known.has(d.version));
  if (unknown.length > 0) {
    throw new AppError(
      'MIGRATION_CONFLICT',
      `The database has migrations this code does not know (${unknown.map((u) => u.name).join(', ')}): ` +
        'it was migrated by a newer version. Upgrade the code, or point DATABASE_URL/DATA_DIR elsewhere.',
    );
  }
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
      throw new AppError('MIGRATION_CONFLICT', `Migration ${m.name} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    applied.push(m.name);
    logger?.info({ migration: m.name }, 'applied migration');
  }
  return { applied };
}
