import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { AppError } from '../../errors.ts';

/** What a checkpoint proved about a file it wrote: checked again on every load. */
export interface FileProof {
  bytes: number;
  /** Hex sha256 of the whole file. */
  sha256: string;
}

/** Size and sha256 of a file, read in one pass. */
export async function proveFile(file: string): Promise<FileProof> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Refuses a file that is not exactly what the manifest names: a truncated copy, a disk error or
 * a hand edit must fail with INDEX_CORRUPT before a native reader interprets its bytes.
 * Manifests written before checksums existed carry no `sha256`; only their size is checked.
 */
export async function checkFile(file: string, expected: { bytes: number; sha256?: string | undefined }) {
  const info = await stat(file).catch((cause: unknown) => {
    throw new AppError('INDEX_CORRUPT', `Cannot read index file ${file}`, { cause });
  });
  if (info.size !== expected.bytes) {
    throw new AppError(
      'INDEX_CORRUPT',
      `Index file ${file} is ${info.size} bytes, the manifest says ${expected.bytes}; run \`npm run reindex\``,
    );
  }
  if (expected.sha256 === undefined) return;
  const actual = await proveFile(file);
  if (actual.sha256 !== expected.sha256) {
    throw new AppError(
      'INDEX_CORRUPT',
      `Index file ${file} does not match its checksum in the manifest; run \`npm run reindex\``,
      { details: { expected: expected.sha256, actual: actual.sha256 } },
    );
  }
}
