/**
 * pgvector through the PostgreSQL wire protocol: an in-memory PGlite (pgvector 0.8 compiled to
 * WASM) behind `@electric-sql/pglite-socket`, reached with `pg` like any server. Debian 12's
 * PostgreSQL 15 has no pgvector package, so this is how the tests exercise pgvector over a socket.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPgDb } from '../../src/store/pg-db.ts';

export interface WireDatabase {
  db: Db;
  url: string;
  close(): Promise<void>;
}

/** A fresh, migrated database served by PGlite on a free local port. */
export async function openPgliteOverWire(): Promise<WireDatabase> {
  const pglite = await PGlite.create({ extensions: { vector } });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  // PGlite is one session: one connection at a time, so the pool below holds one.
  const server = new PGLiteSocketServer({ db: pglite, port, host: '127.0.0.1', maxConnections: 1 });
  await server.start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const db = await openPgDb(url, { max: 1 });
  await migrate(db);
  return {
    db,
    url,
    async close() {
      await db.close();
      await server.stop();
      await pglite.close();
    },
  };
}
