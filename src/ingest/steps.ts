import { createHash } from 'node:crypto';
import { AppError, describeError, isAppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { decodeImage, type DecodeLimits } from '../media/image-decode.ts';
import type { SourceItem } from '../media/sources/types.ts';
import type { Embedder } from '../models/types.ts';
import type { Db } from '../store/db.ts';
import { ImagesRepository } from '../store/images.repository.ts';
import { IngestRepository } from '../store/ingest.repository.ts';
import { VectorsRepository } from '../store/vectors.repository.ts';
import type { IndexSet } from '../store/vector/index-set.ts';
import {
  isDuplicate,
  isFailed,
  isLive,
  type Decoded,
  type Embedded,
  type Failed,
  type ItemOutcome,
  type Stage,
} from './items.ts';

/**
 * The pipeline's stages, one function each. Per-item problems come back as `Failed` values; only
 * systemic ones (database down, encoder broken) throw and stop the run.
 */

export function failure(key: string, error: unknown): Failed {
  return { key, failed: describeError(error), code: isAppError(error) ? error.code : 'INTERNAL' };
}

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
 * Marks items whose content is already stored (or repeated earlier in the same batch) as
 * duplicates, before the encoder spends time on them.
 */
export async function markDuplicates(db: Db, batch: Stage<Decoded>[]): Promise<Stage<Decoded>[]> {
  const live = batch.filter(isLive);
  const known = await new ImagesRepository(db).findIdsByHashes([...new Set(live.map((d) => d.sha256))]);
  const firstInBatch = new Map<string, Decoded>();
  return batch.map((item) => {
    if (!isLive(item)) return item;
    const existing = known.get(item.sha256);
    if (existing !== undefined || firstInBatch.has(item.sha256)) {
      return { key: item.key, sha256: item.sha256, duplicateOf: existing };
    }
    firstInBatch.set(item.sha256, item);
    return item;
  });
}

/** Image encoder + projection for the batch's pixels, text encoder + projection for its captions. */
export async function embedBatch(
  embedder: Embedder,
  batch: Stage<Decoded>[],
  logger: Logger,
): Promise<{ items: Stage<Embedded>[]; truncated: number }> {
  const live = batch.filter(isLive);
  if (live.length === 0) return { items: batch as Stage<Embedded>[], truncated: 0 };
  // The two encoders are separate ORT sessions: run them side by side.
  const [imageVectors, { vectors: textVectors, truncated }] = await Promise.all([
    embedImages(embedder, live, logger),
    embedder.embedTexts(live.flatMap((d) => d.captions)),
  ]);
  let t = 0;
  const embedded = new Map<Decoded, Stage<Embedded>>();
  live.forEach((d, i) => {
    const imageVector = imageVectors[i]!;
    const captionVectors = textVectors.slice(t, t + d.captions.length);
    t += d.captions.length;
    embedded.set(
      d,
      imageVector instanceof Float32Array ? { ...d, imageVector, captionVectors } : imageVector,
    );
  });
  return { items: batch.map((item) => (isLive(item) ? embedded.get(item)! : item)), truncated };
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
    items: embedded.items.map((item, i) => (isDuplicate(checked[i]!) ? checked[i]! : item)),
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

export interface StoreTarget {
  db: Db;
  indexes: IndexSet;
  /** Ledger to record every item's outcome in, inside the same transaction; none for single adds. */
  ledger?: { runId: number; source: string };
}

/**
 * One transaction per batch: images, captions, vectors and every item's outcome commit together,
 * so a crash either keeps all of a batch or none of it. The HNSW adds come after the commit; if
 * the process dies before the next checkpoint, reconcile-on-open re-adds them from Postgres.
 *
 * If the database refuses the batch, the items are stored one per transaction so that the one it
 * refuses (a NUL byte in a caption, say) is recorded as failed and the rest go in. Only when an
 * item cannot even be recorded as failed (the database is gone) does the run stop.
 */
export async function storeBatch(
  target: StoreTarget,
  batch: Stage<Embedded>[],
): Promise<{ outcomes: ItemOutcome[]; captions: number }> {
  try {
    return await storeTogether(target, batch);
  } catch (error) {
    if (batch.length === 1 && (isFailed(batch[0]!) || !target.ledger)) throw error;
    if (batch.length === 1) return storeTogether(target, [failure(batch[0]!.key, error)]);
    const outcomes: ItemOutcome[] = [];
    let captions = 0;
    for (const item of batch) {
      const one = await storeBatch(target, [item]);
      outcomes.push(...one.outcomes);
      captions += one.captions;
    }
    return { outcomes, captions };
  }
}

async function storeTogether(
  target: StoreTarget,
  batch: Stage<Embedded>[],
): Promise<{ outcomes: ItemOutcome[]; captions: number }> {
  const fingerprint = target.indexes.fingerprint;
  const imageRows: { id: number; vector: Float32Array }[] = [];
  const captionRows: { id: number; vector: Float32Array }[] = [];
  const outcomes = await target.db.transaction(async (tx) => {
    const images = new ImagesRepository(tx);
    const results: ItemOutcome[] = [];
    const byHash = new Map<string, number>();
    for (const item of batch) {
      if (isFailed(item))
        results.push({ key: item.key, status: 'failed', error: item.failed, code: item.code });
      else if (isDuplicate(item)) {
        const imageId = item.duplicateOf ?? byHash.get(item.sha256);
        results.push({ key: item.key, status: 'duplicate', imageId: imageId ?? 0 });
      } else {
        const { image, captions, inserted } = await images.insertWithCaptions(
          {
            sha256: item.sha256,
            uri: item.uri,
            width: item.pixels.source.width,
            height: item.pixels.source.height,
            format: item.pixels.source.format,
            bytes: item.pixels.source.bytes,
            metadata: item.metadata,
          },
          item.captions,
        );
        byHash.set(item.sha256, image.id);
        if (!inserted) {
          results.push({ key: item.key, status: 'duplicate', imageId: image.id });
          continue;
        }
        imageRows.push({ id: image.id, vector: item.imageVector });
        captions.forEach((c, i) => captionRows.push({ id: c.id, vector: item.captionVectors[i]! }));
        results.push({
          key: item.key,
          status: 'indexed',
          imageId: image.id,
          captionIds: captions.map((c) => c.id),
        });
      }
    }
    const vectors = new VectorsRepository(tx);
    await vectors.upsert('image', fingerprint, imageRows);
    await vectors.upsert('caption', fingerprint, captionRows);
    if (target.ledger) {
      await new IngestRepository(tx).recordItems(
        target.ledger.runId,
        target.ledger.source,
        results.map((r) =>
          r.status === 'failed'
            ? { key: r.key, status: r.status, error: r.error }
            : { key: r.key, status: r.status, ...(r.imageId > 0 ? { imageId: r.imageId } : {}) },
        ),
      );
    }
    return results;
  });
  addToIndex(target.indexes, 'image', imageRows);
  addToIndex(target.indexes, 'caption', captionRows);
  return { outcomes, captions: captionRows.length };
}

function addToIndex(
  indexes: IndexSet,
  kind: 'image' | 'caption',
  rows: { id: number; vector: Float32Array }[],
): void {
  if (rows.length === 0) return;
  indexes.add(
    kind,
    rows.map((r) => r.id),
    rows.map((r) => r.vector),
  );
}

export function assertSameSpace(embedder: Embedder, indexes: IndexSet): void {
  if (embedder.fingerprint !== indexes.fingerprint || embedder.dims !== indexes.dims) {
    throw new AppError(
      'MODEL_MISMATCH',
      `Embedder ${embedder.fingerprint} (${embedder.dims}-d) does not match the open indexes ${indexes.fingerprint}`,
    );
  }
}
