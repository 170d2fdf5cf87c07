import { constants, type Stats } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppError } from '../../errors.ts';

export const DEFAULT_MAX_BYTES = 25 * 1024 * 1024;

/**
 * Resolves `reference` (relative to `root`, or absolute) and refuses anything that lands outside
 * `root`: `../../etc/passwd`, `/etc/passwd`, NUL bytes. Returns the absolute path.
 */
export function resolveInside(root: string, reference: string): string {
  if (reference.length === 0 || reference.includes('\0')) {
    throw new AppError('FORBIDDEN', `Invalid image path ${JSON.stringify(reference)}`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(reference)) {
    throw new AppError('FORBIDDEN', `Remote or URL image references are not read from sources: ${reference}`);
  }
  const resolved = path.resolve(root, reference);
  if (!isInside(root, resolved)) {
    throw new AppError('FORBIDDEN', `Image path ${reference} resolves outside the source root ${root}`);
  }
  return resolved;
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(path.resolve(root), candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Reads a file that must be inside `root` even after following symlinks, and no larger than
 * `maxBytes` (checked before reading, so a huge file never reaches memory).
 */
export async function readFileInside(root: string, file: string, maxBytes: number): Promise<Buffer> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (cause) {
    throw new AppError('NOT_FOUND', `Image file not found: ${file}`, { cause });
  }
  const realRoot = await realpath(root).catch(() => root);
  if (!isInside(realRoot, real)) {
    throw new AppError('FORBIDDEN', `Image path ${file} links outside the source root ${root}`);
  }
  // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever, holding a
  // thread of libuv's pool (four of them, and the whole indexer stalls). No effect on a file.
  const handle = await open(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new AppError('INVALID_IMAGE', `${file} is not a regular file (${describeFileType(info)})`);
    if (info.size > maxBytes) {
      throw new AppError(
        'LIMIT_EXCEEDED',
        `${file} is ${info.size} bytes, more than the limit of ${maxBytes}`,
      );
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** What a non-regular file is, for messages: `a FIFO`, `a socket`, `a device`, `a directory`. */
export function describeFileType(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isDirectory()) return 'a directory';
  return 'not a regular file';
}

export function fileUri(file: string): string {
  return pathToFileURL(file).href;
}

/** A key that reads the same on every OS: forward slashes, relative to the root. */
export function relativeKey(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

/** An item whose problem is known before reading: yielded so the run records it. */
export function failingRead(error: AppError): () => Promise<Buffer> {
  return () => Promise.reject(error);
}
