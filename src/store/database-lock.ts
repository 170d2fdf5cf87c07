import { AppError } from '../errors.ts';
import type { Db } from './db.ts';

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
 * Takes a session advisory lock for the life of the process, on a connection of its own (so the
 * server notices a holder that died: its session ends and the lock with it). Refused at once, with
 * DATABASE_BUSY naming the sessions in the way, rather than waiting: a server that blocks at start
 * behind an hour-long reindex looks hung. Returns the release.
 *
 * Only for a server: embedded PGlite is one process already guarded by the DATA_DIR lock.
 */
export async function holdDatabase(db: Db, use: DatabaseUse): Promise<() => Promise<void>> {
  if (db.kind !== 'postgres') return async () => undefined;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const acquired = new Promise<void>((resolve, reject) => {
    const session = db.session(async (conn) => {
      const fn = use === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock';
      const [row] = await conn.query<{ ok: boolean }>(`SELECT ${fn}($1) AS ok`, [USE_LOCK_KEY]);
      if (!row?.ok) {
        reject(await busy(conn, use));
        return;
      }
      resolve();
      await released;
      const unlock = use === 'shared' ? 'pg_advisory_unlock_shared' : 'pg_advisory_unlock';
      await conn.query(`SELECT ${unlock}($1)`, [USE_LOCK_KEY]);
    });
    session.catch(reject);
  });
  await acquired;
  return async () => release();
}

async function busy(conn: Pick<Db, 'query'>, use: DatabaseUse): Promise<AppError> {
  // classid/objid are the high and low halves of a one-key advisory lock.
  const holders = await conn
    .query<{ pid: number; mode: string; application_name: string; client_addr: string | null }>(
      `SELECT a.pid, l.mode, a.application_name, host(a.client_addr) AS client_addr
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
       ORDER BY a.pid LIMIT 10`,
      [USE_LOCK_KEY],
    )
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
