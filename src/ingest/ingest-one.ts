import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { decodeImage } from '../media/image-decode.ts';
import type { Decoded } from './items.ts';
import type { StoreTarget } from './store-batch.ts';
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
  /**
   * Ids of the captions this call stored: all of a new image's, or those a duplicate brought that
   * the stored image lacked.
   */
  captionIds: number[];
}

export interface IngestOneOptions {
  /**
   * Runs the store step (transaction, then index add). The API passes its write gate so index
   * updates follow the order of the commits; decoding and embedding stay outside it.
   * @default runs it directly
   */
  aroundStore?: <T>(store: () => Promise<T>) => Promise<T>;
  /** Stops between stages and rolls the store back once aborted (the request timed out). */
  signal?: AbortSignal;
  /** Runs last inside the store transaction (StoreTarget.beforeCommit). */
  beforeCommit?: StoreTarget['beforeCommit'];
}

/**
 * One image through the same stages as the batch pipeline (the API's addImage): decode ->
 * duplicate check -> embed -> one transaction -> index add. Bad input throws its AppError
 * (INVALID_IMAGE, LIMIT_EXCEEDED) instead of being recorded, because a caller is waiting for it.
 */
export async function ingestOne(
  item: NewItem,
  deps: IngestDeps,
  options: IngestOneOptions = {},
): Promise<IngestOneResult> {
  const { db, embedder, indexes, limits, logger } = deps;
  const { signal } = options;
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
  signal?.throwIfAborted();
  const [checked] = await markDuplicates(db, [decoded]);
  const { items } = await embedBatch(embedder, [checked!], logger);
  signal?.throwIfAborted();
  const stored = items[0]!;
  if ('failed' in stored) throw new AppError('INVALID_IMAGE', stored.failed);
  const around = options.aroundStore ?? ((store) => store());
  const { outcomes } = await around(() =>
    storeBatch(
      {
        db,
        indexes,
        ...(signal ? { signal } : {}),
        ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}),
      },
      [stored],
    ),
  );
  const outcome = outcomes[0]!;
  if (outcome.status === 'failed') {
    // NOT_FOUND: the stored copy was deleted meanwhile; anything else the database refused.
    throw new AppError(outcome.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'INVALID_IMAGE', outcome.error);
  }
  return { status: outcome.status, imageId: outcome.imageId, captionIds: outcome.captionIds };
}
