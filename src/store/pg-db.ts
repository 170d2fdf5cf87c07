import pg from 'pg';
import { AppError } from '../errors.ts';
import type { Connection, Db, Queryable } from './db.ts';

// Ids and counts are bigint in SQL; they stay far below 2^53, so plain numbers are safe and simpler.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

function wrap(client: pg.PoolClient): Connection {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      return (await client.query(sql, params as unknown[] | undefined)).rows as R[];
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  };
}

/** A PostgreSQL server through a `pg` Pool. Fails fast, with the setting named, when unreachable. */
export async function openPgDb(url: string, options: { max?: number } = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new AppError(
      'DB_UNAVAILABLE',
      `Cannot connect to DATABASE_URL (${redact(url)}): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }

  const session = async <T>(fn: (conn: Connection) => Promise<T>): Promise<T> => {
    const client = await pool.connect().catch((error: unknown) => {
      throw asDbError(error);
    });
    // A checked-out client has no pool listener: without this one, the server ending the
    // connection between two statements of a transaction (a restart: 57P01) is an unhandled
    // 'error' event, and the process dies. The statement in flight, or the next, fails instead.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await fn(wrap(client));
    } catch (error) {
      throw asDbError(error);
    } finally {
      client.removeListener('error', onError);
      // A broken connection goes back destroyed, never to the idle list.
      client.release(broken);
    }
  };

  return {
    kind: 'postgres',
    async query<R>(sql: string, params?: readonly unknown[]) {
      try {
        return (await pool.query(sql, params as unknown[] | undefined)).rows as R[];
      } catch (error) {
        throw asDbError(error);
      }
    },
    session,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      session(async (conn) => {
        await conn.exec('BEGIN');
        try {
          const result = await fn(conn);
          await conn.exec('COMMIT');
          return result;
        } catch (error) {
          await conn.exec('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    listen: (channel, onNotify, onLost) => listen(url, channel, onNotify, onLost),
    close: () => pool.end(),
  };
}

async function listen(
  url: string,
  channel: string,
  onNotify: () => void,
  onLost: (error: Error) => void,
): Promise<() => Promise<void>> {
  // The name goes into the SQL text (LISTEN takes no parameters): a fixed identifier only.
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new AppError('INVALID_INPUT', `Bad channel name ${channel}`);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  let ended = false;
  let lost = false;
  client.on('error', (error) => {
    if (ended || lost) return;
    lost = true;
    onLost(error);
  });
  client.on('notification', (message) => {
    if (message.channel === channel) onNotify();
  });
  try {
    await client.connect();
    await client.query(`LISTEN ${channel}`);
  } catch (error) {
    ended = true;
    await client.end().catch(() => undefined);
    throw asDbError(error);
  }
  return async () => {
    ended = true;
    await client.end().catch(() => undefined);
  };
}

/** SQLSTATEs of a server that went away or will not take us: connection exceptions, shutdowns. */
const UNAVAILABLE_STATES = /^(08...|57P0[1-3]|53300)$/;
/** What `pg` and Node say when the socket breaks or cannot be opened. */
const UNAVAILABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
const UNAVAILABLE_MESSAGE = /Connection terminated|not queryable|timeout exceeded when trying to connect/;

/**
 * A lost or refused connection as DB_UNAVAILABLE, so the request fails with a stable code while
 * the pool replaces the connection for the next one; every other error as it was.
 */
export function asDbError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof AppError) return error;
  const code = (error as { code?: unknown }).code;
  const lost =
    (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || UNAVAILABLE_NODE.has(code))) ||
    UNAVAILABLE_MESSAGE.test(error.message);
  return lost
    ? new AppError('DB_UNAVAILABLE', `The database is unavailable: ${error.message}`, { cause: error })
    : error;
}

/**
 * Query parameters libpq and node-postgres read a secret from (`?password=`, `?sslpassword=`) and
 * any look-alike a driver might add: masked by name, so a new one is hidden before anyone lists it.
 */
const SECRET_PARAM = /pass|secret|token|key|credential|auth/i;

/** The URL with every credential masked (userinfo password and secret query parameters), for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of [...new Set(u.searchParams.keys())]) {
      if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
    }
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}
