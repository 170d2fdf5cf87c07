import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';

/** Short stable hex id: the first 16 hex digits of a SHA-256. */
export function shortHash(...parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 16);
}

/**
 * Fingerprint of an encoder: the bytes of its files plus the settings that change its output
 * (pooling, preprocessing). Same files and settings -> same id on any machine.
 */
export async function fingerprintFiles(
  dir: string,
  files: readonly string[],
  settings: unknown,
): Promise<string> {
  const digests: string[] = [];
  for (const rel of [...files].sort()) digests.push(`${rel}=${await sha256File(path.join(dir, rel))}`);
  return shortHash(...digests, JSON.stringify(settings));
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
