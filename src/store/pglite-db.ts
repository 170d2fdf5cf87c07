import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { AppError } from '../errors.ts';
import { explainStorageError } from '../os-errors.ts';
import type { Connection, Db, Queryable } from './db.ts';

interface PgliteLike {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(sql: string): Promise<unknown>;
}

function wrap(handle: PgliteLike): Connection {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      return (await handle.query<R>(sql, params as unknown[] | undefined)).rows;
    },
    async exec(sql: string) {
      await handle.exec(sql);
    },
  };
}

/**
 * Embedded PostgreSQL (WASM) in `dir`: the default when no DATABASE_URL is set, so a fresh machine
 * needs no server. One process at a time may open a directory.
 */
export async function openPgliteDb(dir: string | undefined): Promise<Db> {
  let pglite: PGlite;
  try {
    if (dir !== undefined) await mkdir(dir, { recursive: true });
    // pgvector (compiled to WASM) is loaded with every database; `CREATE EXTENSION vector` runs
    // only when VECTOR_BACKEND=pgvector asks for it.
    pglite = await PGlite.create(dir, { extensions: { vector } });
  } catch (error) {
    // A full or read-only disk arrives as a WASM ErrnoError without a message: name it and the fix.
    throw (
      explainStorageError(error, `the embedded database in ${dir ?? 'memory'}`) ??
      new AppError(
        'DB_UNAVAILABLE',
        `Cannot open the embedded database in ${dir ?? 'memory'}: ${(error as Error).message}`,
        { cause: error },
      )
    );
  }
  const conn = wrap(pglite);
  return {
    kind: 'pglite',
    query: conn.query,
    // PGlite is one connection: it serialises single queries and `transaction`s, but not a
    // session's statements against other callers. Only migrations use a session, and openDb runs
    // them before anything else can query.
    session: async (fn) => fn(conn),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => pglite.transaction((tx) => fn(wrap(tx))),
    close: () => pglite.close(),
  };
}
