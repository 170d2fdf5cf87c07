import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Crash-safe file replacement: write to a temp name in the same directory, fsync it, rename over
 * the target, fsync the directory. A reader sees either the old file or the whole new one, never half.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await commitAtomic(target, async (tmp) => {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
  });
}

/**
 * Lets `write` produce the temp file however it likes (e.g. a native library), then commits it.
 * `verify` runs on the synced temp file before the rename: a writer that cannot report its own
 * errors (hnswlib's ignores a full disk) is checked there, so a short file never replaces a good one.
 */
export async function commitAtomic<T = void>(
  target: string,
  write: (tmpPath: string) => Promise<void> | void,
  verify?: (tmpPath: string) => Promise<T>,
): Promise<T | undefined> {
  // Unique per call: two writers of the same target (even in one process) never share a temp file.
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await write(tmp);
    await fsyncPath(tmp);
    const proof = verify ? await verify(tmp) : undefined;
    await rename(tmp, target);
    await fsyncPath(path.dirname(target));
    return proof;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function fsyncPath(p: string): Promise<void> {
  const handle = await open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
