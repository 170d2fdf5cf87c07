import pg from 'pg';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * Any constant works; it only has to be the same in every process of this application, and differ
 * from the migrations' key (src/store/migrate.ts).
 */
const USE_LOCK_KEY = 72_310_456;

/**
 * How a process uses a shared PostgreSQL database. `shared`: serving, indexing, workers; any
 * number at once. `exclusive`: a reindex, which re-embeds every row for new models; images added
 * meanwhile by a server still on the old models would never get vectors for the new ones.
 */
export type DatabaseUse = 'shared' | 'exclusive';

/**
 * Takes a session advisory lock for the life of the process, on a connection of its own outside
 * the pool (so the server notices a holder that died: its session ends and the lock with it, and
 * so a dropped connection is an event we log rather than an unhandled error). Refused at once,
 * with DATABASE_BUSY naming the sessions in the way, rather than waiting: a server that blocks at
 * start behind an hour-long reindex looks hung. Returns the release.
 *
 * Only for a server: embedded PGlite is one process already guarded by the DATA_DIR lock.
 */
export async function holdDatabase(
  url: string,
  use: DatabaseUse,
  options: { command: string; logger: Logger },
): Promise<() => Promise<void>> {
  const client = new pg.Client({
    connectionString: url,
    // Shown in pg_stat_activity, and so in the DATABASE_BUSY message another process gets.
    application_name: `crossmodal-search ${options.command}`,
    connectionTimeoutMillis: 10_000,
  });
  let releasing = false;
  let lost = false;
  // pg reports a terminated session twice (the server's notice, then the closed socket): log once.
  client.on('error', (err) => {
    if (!releasing && !lost) {
      lost = true;
      options.logger.error(
        { err, use },
        'lost the database lock session (server restart?); other processes are no longer kept apart',
      );
    }
  });
  try {
    await client.connect();
    const fn = use === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock';
    const { rows } = await client.query<{ ok: boolean }>(`SELECT ${fn}($1) AS ok`, [USE_LOCK_KEY]);
    if (!rows[0]?.ok) throw await busy(client, use);
  } catch (error) {
    releasing = true;
    await client.end().catch(() => undefined);
    throw error instanceof AppError
      ? error
      : new AppError('DB_UNAVAILABLE', `Cannot take the database lock: ${(error as Error).message}`, {
          cause: error,
        });
  }
  // Ending the session releases its advisory locks; no unlock statement to fail on a dead link.
  return async () => {
    if (releasing) return;
    releasing = true;
    await client.end().catch(() => undefined);
  };
}

async function busy(client: pg.Client, use: DatabaseUse): Promise<AppError> {
  // classid/objid are the high and low halves of a one-key advisory lock.
  const holders = await client
    .query<{ pid: number; mode: string; application_name: string; client_addr: string | null }>(
      `SELECT a.pid, l.mode, a.application_name, host(a.client_addr) AS client_addr
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
       ORDER BY a.pid LIMIT 10`,
      [USE_LOCK_KEY],
    )
    .then((r) => r.rows)
    .catch(() => []);
  const named = holders
    .map(
      (h) =>
        `backend ${h.pid} from ${h.client_addr ?? 'local socket'}${h.application_name ? ` (${h.application_name})` : ''}`,
    )
    .join(', ');
  const message =
    use === 'exclusive'
      ? 'A reindex needs the database to itself, but servers, indexers or workers are using it' +
        `${named ? `: ${named}` : ''}. Stop them, run the reindex, then start them again.`
      : 'A reindex for new models is running on this database' +
        `${named ? ` (${named})` : ''}; wait for it to finish, then start again.`;
  return new AppError('DATABASE_BUSY', message, { details: { holders } });
}
