import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { decodeImage } from '../media/image-decode.ts';
import type { Decoded } from './items.ts';
import type { IngestDeps } from './pipeline.ts';
import { assertSameSpace, embedBatch, markDuplicates, storeBatch } from './steps.ts';

export interface NewItem {
  bytes: Buffer;
  captions?: readonly string[];
  metadata?: Record<string, unknown>;
  /** Where the image came from, as stored in Postgres (e.g. `upload:<sha256>` or a file URL). */
  uri?: string;
}

export interface IngestOneResult {
  status: 'indexed' | 'duplicate';
  imageId: number;
  /** Ids of the captions stored with a newly indexed image (none for a duplicate). */
  captionIds: number[];
}

/**
 * One image through the same stages as the batch pipeline (the API's addImage): decode ->
 * duplicate check -> embed -> one transaction -> index add. Bad input throws its AppError
 * (INVALID_IMAGE, LIMIT_EXCEEDED) instead of being recorded, because a caller is waiting for it.
 */
export async function ingestOne(item: NewItem, deps: IngestDeps): Promise<IngestOneResult> {
  const { db, embedder, indexes, limits, logger } = deps;
  assertSameSpace(embedder, indexes);
  const captions = (item.captions ?? []).map((c) => c.trim()).filter((c) => c.length > 0);
  const sha256 = createHash('sha256').update(item.bytes).digest('hex');
  const decoded: Decoded = {
    key: sha256,
    uri: item.uri ?? `upload:${sha256}`,
    captions,
    metadata: item.metadata ?? {},
    sha256,
    pixels: await decodeImage(item.bytes, embedder.preprocess, limits),
  };
  const [checked] = await markDuplicates(db, [decoded]);
  const { items } = await embedBatch(embedder, [checked!], logger);
  const stored = items[0]!;
  if ('failed' in stored) throw new AppError('INVALID_IMAGE', stored.failed);
  const { outcomes } = await storeBatch({ db, indexes }, [stored]);
  const outcome = outcomes[0]!;
  if (outcome.status === 'failed') throw new AppError('INVALID_IMAGE', outcome.error);
  return {
    status: outcome.status,
    imageId: outcome.imageId,
    captionIds: outcome.status === 'indexed' ? outcome.captionIds : [],
  };
}
