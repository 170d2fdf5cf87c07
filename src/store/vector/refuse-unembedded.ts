import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { IngestRepository } from '../ingest.repository.ts';
import type { VectorsRepository } from '../vectors.repository.ts';
import { readManifest } from './manifest.ts';

/**
 * Models changed but the vectors were never recomputed: searching would find nothing, or mix two
 * spaces. Refused. A reindex that stopped part way (SIGKILL, Ctrl-C) is refused too: serving it
 * would answer for a fraction of the collection, with NOT_FOUND for images that exist, and nothing
 * in an answer says so; finishing it is one resumable command. Images left without a vector by a
 * reindex that went to the end (their files could not be read again) are only reported: the rest
 * of the collection stays searchable.
 */
export async function refuseUnembedded(
  vectors: VectorsRepository,
  ledger: IngestRepository,
  fingerprint: string,
  indexesDir: string,
  logger: Logger,
): Promise<void> {
  const missing = await vectors.missingIds('image', fingerprint, 1);
  if (missing.length === 0) return;
  const embedded = await vectors.count('image', fingerprint);
  if (embedded > 0 && !(await ledger.reindexCompleted(fingerprint))) {
    throw new AppError(
      'REINDEX_INCOMPLETE',
      `A reindex for the current models (${fingerprint}) stopped part way: ${embedded} live images ` +
        'have vectors for them and the rest do not. Run `npm run reindex` to finish it; it resumes ' +
        'where it stopped.',
      { details: { currentFingerprint: fingerprint, embeddedImages: embedded } },
    );
  }
  if (embedded > 0) {
    logger.warn(
      { fingerprint },
      'some live images have no vector for the current models and are not searchable; `npm run reindex` retries them',
    );
    return;
  }
  const others: string[] = [];
  for (const name of await readdir(indexesDir).catch(() => [] as string[])) {
    if (await readManifest(path.join(indexesDir, name)).catch(() => undefined)) others.push(name);
  }
  throw new AppError(
    'MODEL_MISMATCH',
    `Postgres holds images with no vectors for the current models (${fingerprint})` +
      (others.length > 0 ? `; indexes exist for ${others.join(', ')}` : '') +
      '; run `npm run reindex` to embed them with the current models',
    { details: { currentFingerprint: fingerprint } },
  );
}
