/**
 * Reading a query image by server path, only inside the operator's allowed roots. The lexical path
 * is checked before touching the disk (no existence oracle outside the roots), then the real path
 * after resolving symlinks, so `..` and links cannot escape.
 */
import { realpath, stat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export async function readLocalImage(
  rawPath: string,
  roots: readonly string[],
  maxBytes: number,
): Promise<Buffer> {
  if (roots.length === 0) {
    throw new AppError(
      'FORBIDDEN',
      'Reading images by server path is disabled (set LOCAL_IMAGE_ROOTS to allow it)',
    );
  }
  if (rawPath.includes('\0') || rawPath.trim() === '')
    throw new AppError('INVALID_INPUT', 'image.path is not a valid path');
  const lexical = path.isAbsolute(rawPath) ? path.resolve(rawPath) : path.resolve(roots[0]!, rawPath);
  if (!roots.some((root) => inside(root, lexical))) {
    throw new AppError('FORBIDDEN', 'image.path is outside the allowed image roots');
  }
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new AppError('NOT_FOUND', 'No image at image.path');
  }
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
  if (!realRoots.some((root) => inside(root, real))) {
    throw new AppError('FORBIDDEN', 'image.path resolves outside the allowed image roots');
  }
  const info = await stat(real);
  if (!info.isFile()) throw new AppError('INVALID_INPUT', 'image.path is not a file');
  if (info.size > maxBytes) throw new AppError('LIMIT_EXCEEDED', `Image is larger than ${maxBytes} bytes`);
  return readFile(real);
}
