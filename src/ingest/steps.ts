import { createHash } from 'node:crypto';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { decodeImage, type DecodeLimits } from '../media/image-decode.ts';
import type { SourceItem } from '../media/sources/types.ts';
import type { Embedder } from '../models/types.ts';
import type { Db } from '../store/db.ts';
import { ImagesRepository } from '../store/images.repository.ts';
import type { VectorBackend } from '../store/vector/types.ts';
import {
  failure,
  isDuplicate,
  isLive,
  type Decoded,
  type Embedded,
  type Failed,
  type Stage,
} from './items.ts';

/**
 * The pipeline's stages, one function each. Per-item problems come back as `Failed` values; only
 * systemic ones (database down, encoder broken) throw and stop the run.
 */

export { failure };
// The store step lives in its own module; the pipeline imports every stage from here.
export { storeBatch, type ClaimGuard, type StoreTarget } from './store-batch.ts';

/** Reads the bytes, hashes them and decodes them to encoder pixels; the bytes are not kept. */
export async function readAndDecode(
  item: SourceItem,
  spec: Embedder['preprocess'],
  limits: DecodeLimits,
): Promise<Stage<Decoded>> {
  try {
    const bytes = await item.read();
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const pixels = await decodeImage(bytes, spec, limits);
    return { key: item.key, uri: item.uri, captions: item.captions, metadata: item.metadata, sha256, pixels };
  } catch (error) {
    return failure(item.key, error);
  }
}

/**
 * Marks items whose content is already stored as duplicates, before the encoder spends time on
 * their pixels. A repeat within the batch stays a full item: the store attaches its captions to
 * the first copy, or stores it on its own when the first copy fails.
 */
export async function markDuplicates(db: Db, batch: Stage<Decoded>[]): Promise<Stage<Decoded>[]> {
  const live = batch.filter(isLive);
  const known = await new ImagesRepository(db).findIdsByHashes([...new Set(live.map((d) => d.sha256))]);
  return batch.map((item) => {
    if (!isLive(item)) return item;
    const existing = known.get(item.sha256);
    if (existing === undefined) return item;
    return { key: item.key, sha256: item.sha256, duplicateOf: existing, captions: item.captions };
  });
}

/**
 * Image encoder + projection for the batch's pixels (once per distinct content), text encoder +
 * projection for its captions, those of duplicates included.
 */
export async function embedBatch(
  embedder: Embedder,
  batch: Stage<Decoded>[],
  logger: Logger,
): Promise<{ items: Stage<Embedded>[]; truncated: number }> {
  const live = batch.filter(isLive);
  const duplicates = batch.filter(isDuplicate).filter((d) => d.captions.length > 0);
  if (live.length === 0 && duplicates.length === 0)
    return { items: batch as Stage<Embedded>[], truncated: 0 };
  // Identical bytes embed identically: each distinct content goes through the encoder once.
  const distinct = new Map<string, number>();
  const firsts: Decoded[] = [];
  for (const d of live) {
    if (distinct.has(d.sha256)) continue;
    distinct.set(d.sha256, firsts.length);
    firsts.push(d);
  }
  // The two encoders are separate ORT sessions: run them side by side.
  const [imageVectors, { vectors: textVectors, truncated }] = await Promise.all([
    firsts.length > 0 ? embedImages(embedder, firsts, logger) : [],
    embedder.embedTexts([...live, ...duplicates].flatMap((d) => d.captions)),
  ]);
  let t = 0;
  const takeTexts = (n: number) => textVectors.slice(t, (t += n));
  const embedded = new Map<object, Stage<Embedded>>();
  for (const d of live) {
    const imageVector = imageVectors[distinct.get(d.sha256)!]!;
    const captionVectors = takeTexts(d.captions.length);
    embedded.set(
      d,
      imageVector instanceof Float32Array
        ? { ...d, imageVector, captionVectors }
        : { ...imageVector, key: d.key },
    );
  }
  for (const d of duplicates) embedded.set(d, { ...d, captionVectors: takeTexts(d.captions.length) });
  return { items: batch.map((item) => embedded.get(item) ?? (item as Stage<Embedded>)), truncated };
}

/**
 * `markDuplicates` then `embedBatch`, but run side by side while duplicates are rare: the encoder
 * then never waits for the database (embedded PGlite shares one connection with the store), at
 * the price of embedding the odd duplicate for nothing. When most of the last batch was already
 * stored (re-indexing a copied collection), it checks first and spares the encoder.
 */
export async function embedNew(
  db: Db,
  embedder: Embedder,
  batch: Stage<Decoded>[],
  logger: Logger,
  state: { duplicateShare: number },
): Promise<{ items: Stage<Embedded>[]; truncated: number }> {
  if (state.duplicateShare > 0.5) {
    const checked = await markDuplicates(db, batch);
    state.duplicateShare = checked.filter(isDuplicate).length / Math.max(1, batch.length);
    return embedBatch(embedder, checked, logger);
  }
  const [checked, embedded] = await Promise.all([
    markDuplicates(db, batch),
    embedBatch(embedder, batch, logger),
  ]);
  state.duplicateShare = checked.filter(isDuplicate).length / Math.max(1, batch.length);
  return {
    items: embedded.items.map((item, i) => {
      const check = checked[i]!;
      // Embedded in full for nothing but its captions, which are attached to the stored copy.
      return isDuplicate(check) && isLive(item) ? { ...check, captionVectors: item.captionVectors } : item;
    }),
    truncated: embedded.truncated,
  };
}

async function embedImages(
  embedder: Embedder,
  live: Decoded[],
  logger: Logger,
): Promise<(Float32Array | Failed)[]> {
  try {
    return await embedder.embedPixels(live.map((d) => d.pixels));
  } catch (error) {
    // Find the culprit instead of losing the whole batch: embed one by one.
    logger.warn(
      { error: describeError(error), items: live.length },
      'batch embedding failed; retrying items one by one',
    );
    const out: (Float32Array | Failed)[] = [];
    for (const d of live) {
      out.push(
        await embedder.embedPixels([d.pixels]).then(
          (v) => v[0]!,
          (e: unknown) => failure(d.key, e),
        ),
      );
    }
    return out;
  }
}

export function assertSameSpace(embedder: Embedder, indexes: VectorBackend): void {
  if (embedder.fingerprint !== indexes.fingerprint || embedder.dims !== indexes.dims) {
    throw new AppError(
      'MODEL_MISMATCH',
      `Embedder ${embedder.fingerprint} (${embedder.dims}-d) does not match the open indexes ${indexes.fingerprint}`,
    );
  }
}
