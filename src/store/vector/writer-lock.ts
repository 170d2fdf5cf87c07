import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

const LOCK_FILE = 'writer.lock';

/**
 * One writer per index directory. Two processes checkpointing the same directory (an API server
 * and `npm run index` against one PostgreSQL server, say) would each number their generations and
 * delete the other's files. A live process on this host holding the lock is refused; a lock left
 * by a dead process (SIGKILL, power loss) is taken over. The same process may reopen its own.
 */
export async function acquireWriterLock(dir: string, logger: Logger): Promise<() => Promise<void>> {
  const file = path.join(dir, LOCK_FILE);
  const mine = JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() });
  try {
    await writeFile(file, mine, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = await readHolder(file);
    if (holder && holder.pid !== process.pid && holder.host === os.hostname() && isAlive(holder.pid)) {
      throw new AppError(
        'INDEX_LOCKED',
        `The indexes in ${dir} are open for writing by process ${holder.pid} (since ${holder.since}); ` +
          'stop it (e.g. the API server) before indexing or reindexing from another process',
        { details: { pid: holder.pid } },
      );
    }
    if (holder?.pid !== process.pid)
      logger.warn({ dir, holder }, 'taking over an index lock left by a process that is gone');
    await writeFile(file, mine);
  }
  return async () => {
    const holder = await readHolder(file);
    if (holder?.pid === process.pid) await rm(file, { force: true });
  };
}

async function readHolder(file: string): Promise<{ pid: number; host: string; since: string } | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as {
      pid?: unknown;
      host?: unknown;
      since?: unknown;
    };
    return typeof parsed.pid === 'number'
      ? { pid: parsed.pid, host: String(parsed.host), since: String(parsed.since) }
      : undefined;
  } catch {
    return undefined; // unreadable or half-written: treated as stale
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
