import fs from 'node:fs';
import { mkdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { AppError } from '../errors.ts';
import { explainStorageError } from '../os-errors.ts';
import type { Logger } from '../logger.ts';

/** The lock itself: a directory, because mkdir is atomic on every file system, NFS included. */
const LOCK_NAME = '.lock';
/** Who holds it, for messages only: the lock's truth is the directory and its heartbeat. */
const HOLDER_NAME = '.lock-holder.json';
/** Serialises every change of hands, so two contenders can never both take a lock over. */
const GUARD_NAME = '.lock-guard';

export interface DataDirLock {
  readonly dir: string;
  /** Releases this handle; the directory is unlocked when the last handle in the process is released. */
  release(): Promise<void>;
}

export interface DataDirLockOptions {
  /** Named in the message another process gets (`npm start`, `index`, ...). */
  command: string;
  logger: Logger;
  /**
   * A lock whose heartbeat (the directory's mtime, refreshed every staleMs / 4) is older than this
   * belongs to a process that is gone, on this host or another, and is taken over. Long enough that
   * a holder whose event loop is busy (loading or saving a large index) is never judged dead.
   * @default 30000 (the library's floor is 2000)
   */
  staleMs?: number;
  /**
   * What a refused process should do, in the refusal's message. @default stop the holder, or use
   * a DATA_DIR of its own
   */
  advice?: string;
  /** Called if another process removed or replaced our lock; the default throws, ending the process. */
  onCompromised?: (error: Error) => void;
}

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
  /** The kernel's start time of `pid` (Linux), so a reused PID is never mistaken for the holder. */
  started?: string;
}

// Per process: a second open of the same directory (the API fixture, demo's index-then-serve)
// shares the lock, and only the last release unlocks it.
const held = new Map<string, { count: number; unlock: Promise<() => Promise<void>> }>();

/**
 * One process per DATA_DIR: taken before the embedded database or an index file is opened, by every
 * command. Built on proper-lockfile (mkdir-atomic, heartbeat by mtime), so a holder killed by
 * SIGKILL, on this host or another, is taken over once its heartbeat is stale, and a PID reused by
 * another process never keeps the lock alive. A busy holder is refused with DATA_DIR_LOCKED.
 */
export async function lockDataDir(dir: string, options: DataDirLockOptions): Promise<DataDirLock> {
  // A DATA_DIR that is a file, on a read-only disk or on a full one fails here, first: say which.
  const unusable = (error: unknown) => explainStorageError(error, `DATA_DIR ${dir}`) ?? error;
  const key = await mkdir(dir, { recursive: true })
    .then(() => realpath(dir))
    .catch((error: unknown) => {
      throw unusable(error);
    });
  let entry = held.get(key);
  if (entry) entry.count++;
  else {
    // Stored before it settles, so two opens racing in this process share one acquisition.
    entry = { count: 1, unlock: acquire(key, options) };
    held.set(key, entry);
  }
  const shared = entry;
  try {
    await shared.unlock;
  } catch (error) {
    if (--shared.count === 0 && held.get(key) === shared) held.delete(key);
    throw unusable(error);
  }
  let released = false;
  return {
    dir: key,
    async release() {
      if (released) return;
      released = true;
      if (--shared.count > 0) return;
      held.delete(key);
      await (
        await shared.unlock
      )();
    },
  };
}

async function acquire(dir: string, options: DataDirLockOptions): Promise<() => Promise<void>> {
  const staleMs = Math.max(options.staleMs ?? 30_000, 2000);
  const lockPath = path.join(dir, LOCK_NAME);
  const holderPath = path.join(dir, HOLDER_NAME);
  const guardPath = path.join(dir, GUARD_NAME);
  const guarded = recheckingFs(lockPath, staleMs);
  const lockOptions = {
    lockfilePath: lockPath,
    realpath: false,
    stale: staleMs,
    update: Math.max(1000, Math.floor(staleMs / 4)),
    fs: guarded.fs,
    onCompromised:
      options.onCompromised ??
      ((error: Error) => {
        throw new AppError(
          'DATA_DIR_LOCKED',
          `Lost the lock on ${dir} (${error.message}); stopping before two processes write it`,
          { cause: error },
        );
      }),
  };
  // Every change of hands (take, take over, release) happens under the guard, so the holder file
  // always describes the lock directory beside it, and a takeover never removes a fresh lock.
  const take = async () => {
    try {
      return await lockfile.lock(dir, lockOptions);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      const holder = await readHolder(holderPath);
      // Its process is gone (killed, or the PID now names another program): no need to wait for
      // the heartbeat to go stale. Only decidable on this host; elsewhere staleness decides.
      if (!holder || !isGone(holder)) throw refusal(dir, holder, staleMs, error, options.advice);
      options.logger.warn({ holder }, 'taking over the DATA_DIR lock of a process that is gone');
      await rm(lockPath, { recursive: true, force: true });
      return await lockfile.lock(dir, lockOptions);
    }
  };
  const unlock = await withGuard(guardPath, staleMs, async () => {
    const release = await take();
    try {
      await writeHolder(holderPath, options.command);
    } catch (error) {
      await release();
      throw error;
    }
    return release;
  });
  return () =>
    withGuard(guardPath, staleMs, async () => {
      await rm(holderPath, { force: true });
      guarded.releasing = true;
      await unlock().catch((error: NodeJS.ErrnoException) => {
        // Already released by proper-lockfile after onCompromised: nothing of ours is left.
        if (error.code !== 'ERELEASED') throw error;
      });
    });
}

/** Runs `fn` holding the guard directory; waits (bounded) while another process holds it. */
async function withGuard<T>(guardPath: string, staleMs: number, fn: () => Promise<T>): Promise<T> {
  // A guard is held for milliseconds; one older than staleMs was left by a process that died inside.
  const deadline = Date.now() + staleMs + 5000;
  for (;;) {
    try {
      await mkdir(guardPath);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const since = await stat(guardPath).then(
        (s) => s.mtimeMs,
        () => Date.now(),
      );
      if (Date.now() - since > staleMs) await rm(guardPath, { recursive: true, force: true });
      else if (Date.now() > deadline)
        throw new AppError('DATA_DIR_LOCKED', `Timed out waiting for ${guardPath}`);
      else await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(guardPath, { recursive: true, force: true });
  }
}

function refusal(
  dir: string,
  holder: Holder | undefined,
  staleMs: number,
  cause: unknown,
  advice = 'Stop that process, or give this command a DATA_DIR of its own.',
): AppError {
  const who = holder
    ? `process ${holder.pid} (${holder.command}) on ${holder.host}, since ${holder.since}`
    : 'another process';
  return new AppError(
    'DATA_DIR_LOCKED',
    `The data directory ${dir} is in use by ${who}. ${advice} A lock whose holder died is taken ` +
      `over at once on the same host, and after ${Math.round(staleMs / 1000)} s without a heartbeat from another host.`,
    { cause, details: holder ? { ...holder } : {} },
  );
}

/**
 * proper-lockfile removes a lock it judged stale with rmdir. That happens under our guard, but the
 * judgement was made a moment earlier: check again, so a lock whose holder's heartbeat came in
 * meanwhile is kept (and we are refused), and remove the directory whatever it holds.
 */
function recheckingFs(lockPath: string, staleMs: number): { fs: typeof fs; releasing: boolean } {
  const state = { fs, releasing: false };
  const rmdir = (target: fs.PathLike, callback: (err: NodeJS.ErrnoException | null) => void) => {
    if (String(target) !== lockPath || state.releasing) return fs.rmdir(target, callback);
    stat(lockPath)
      .then(
        async (current) => {
          if (Date.now() - current.mtimeMs <= staleMs)
            throw Object.assign(new Error('Lock file is already being held'), { code: 'ELOCKED' });
          await rm(lockPath, { recursive: true, force: true });
        },
        (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        },
      )
      .then(
        () => callback(null),
        (err: NodeJS.ErrnoException) => callback(err),
      );
  };
  state.fs = { ...fs, rmdir } as typeof fs;
  return state;
}

async function writeHolder(file: string, command: string): Promise<void> {
  const holder: Holder = {
    pid: process.pid,
    host: os.hostname(),
    command,
    since: new Date().toISOString(),
    ...optional('started', processStart(process.pid)),
  };
  // Readers never see half a file: write aside, then rename.
  const temp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(temp, JSON.stringify(holder));
  await rename(temp, file);
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Holder>;
    if (typeof parsed.pid !== 'number') return undefined;
    return {
      pid: parsed.pid,
      host: String(parsed.host),
      command: String(parsed.command),
      since: String(parsed.since),
      ...optional('started', typeof parsed.started === 'string' ? parsed.started : undefined),
    };
  } catch {
    return undefined;
  }
}

/** Only decidable on this host: a missing process, or one whose start time differs (PID reused). */
function isGone(holder: Holder): boolean {
  if (holder.host !== os.hostname()) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return true;
  }
  const started = processStart(holder.pid);
  return holder.started !== undefined && started !== undefined && started !== holder.started;
}

/** Field 22 of /proc/<pid>/stat (clock ticks since boot); undefined where there is no /proc. */
function processStart(pid: number): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; count from the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
