import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPgDb } from '../../src/store/pg-db.ts';
import { openPgliteDb } from '../../src/store/pglite-db.ts';

/**
 * Both database backends as test subjects. Each `open()` gives a fresh, empty, unmigrated database:
 * a new database on the test PostgreSQL server, or a new PGlite directory.
 */
export interface Backend {
  name: 'postgres' | 'pglite';
  /** Why this backend cannot run here; tests print it and skip. */
  skipReason: string;
  open(): Promise<{ db: Db; url: string | undefined; dispose(): Promise<void> }>;
}

/** A fresh database on the test server, and its URL. */
/**
 * A fresh database on the test server. `migrated`: set up as `npm run migrate` would, for tests that
 * start servers (a server only checks the schema of a server database, it never migrates it).
 */
export async function createPostgresDatabase(
  options: { migrated?: boolean } = {},
): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = inject('postgresUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  if (options.migrated) {
    const db = await openPgDb(url.toString());
    await migrate(db).finally(() => db.close());
  }
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const postgresBackend: Backend = {
  name: 'postgres',
  get skipReason() {
    return inject('postgresSkipReason');
  },
  async open() {
    const { url, drop } = await createPostgresDatabase();
    const db = await openPgDb(url);
    return {
      db,
      url,
      async dispose() {
        await db.close();
        await drop();
      },
    };
  },
};

export const pgliteBackend: Backend = {
  name: 'pglite',
  skipReason: '',
  async open() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cms-pglite-'));
    const db = await openPgliteDb(dir);
    return {
      db,
      url: undefined,
      async dispose() {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

export const backends: Backend[] = [postgresBackend, pgliteBackend];

/** Logs why a backend's tests are skipped, so the reason shows in the test output. */
export function announceSkip(backend: Backend, suite: string): boolean {
  if (backend.skipReason) console.warn(`SKIPPED ${suite} [${backend.name}]: ${backend.skipReason}`);
  return backend.skipReason !== '';
}

/**
 * Opens a fresh, migrated database of `backend` for the enclosing describe block and disposes of
 * it afterwards; `get()` returns it inside tests. Does nothing when the backend is skipped.
 */
export function useMigratedDb(backend: Backend, skip: boolean): { get(): Db } {
  let db: Db | undefined;
  let dispose: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (skip) return;
    const opened = await backend.open();
    db = opened.db;
    dispose = opened.dispose;
    await migrate(db);
  });
  afterAll(async () => {
    await dispose?.();
  });
  return {
    get() {
      if (!db) throw new Error(`no ${backend.name} database: the suite is skipped or setup failed`);
      return db;
    },
  };
}
