import { invariant } from '../errors.ts';
import { CaptionsRepository } from '../store/captions.repository.ts';
import type { Db, Queryable } from '../store/db.ts';
import { ImagesRepository } from '../store/images.repository.ts';
import { commitThenIndex, type Mirror } from '../store/index-lifecycle.ts';
import { IngestRepository } from '../store/ingest.repository.ts';
import { VectorsRepository } from '../store/vectors.repository.ts';
import {
  failure,
  isDuplicate,
  isFailed,
  type Duplicate,
  type Embedded,
  type ItemOutcome,
  type Stage,
} from './items.ts';

export interface StoreTarget {
  db: Db;
  /** The index set to add to after the commit, or `rowsOnly(...)` for a worker (index-lifecycle.ts). */
  indexes: Mirror;
  /** Ledger to record every item's outcome in, inside the same transaction; none for single adds. */
  ledger?: { runId: number; source: string };
  /** Work-queue claims: checked and finished inside the same transaction (indexer workers). */
  claims?: ClaimGuard;
  /**
   * Checked last inside the transaction: once aborted (the API request timed out), the batch rolls
   * back instead of committing, and nothing reaches the index.
   */
  signal?: AbortSignal;
  /** Runs last inside each transaction, after the signal check (an API Idempotency-Key's commit mark). */
  beforeCommit?: (tx: Queryable) => Promise<void>;
}

/**
 * How a worker makes its items' effects happen once: `hold` locks the claims still ours (an item
 * whose lease another worker took over is dropped before anything is written) and `finish`
 * records each outcome, both in the batch's transaction.
 */
export interface ClaimGuard {
  hold(tx: Queryable, keys: readonly string[]): Promise<ReadonlySet<string>>;
  finish(tx: Queryable, outcomes: readonly ItemOutcome[]): Promise<void>;
}

/**
 * One transaction per batch: images, captions, vectors and every item's outcome commit together,
 * so a crash either keeps all of a batch or none of it. The HNSW adds come after the commit (the
 * index lifecycle, src/store/index-lifecycle.ts); if the process dies before the next checkpoint,
 * reconcile-on-open re-adds them from Postgres.
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
    if (target.signal?.aborted) throw error;
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
  let captionCount = 0;
  const outcomes = await commitThenIndex(target.db, target.indexes, async (tx, changes) => {
    const imageRows: { id: number; vector: Float32Array }[] = [];
    const captionRows: { id: number; vector: Float32Array }[] = [];
    let mine = batch;
    if (target.claims) {
      const held = await target.claims.hold(
        tx,
        batch.map((item) => item.key),
      );
      mine = batch.filter((item) => held.has(item.key));
    }
    const images = new ImagesRepository(tx);
    const results: ItemOutcome[] = [];
    const attach = async (
      key: string,
      imageId: number,
      item: Pick<Duplicate, 'captions' | 'captionVectors'>,
    ) => {
      const attached = await attachCaptions(tx, imageId, item);
      if (attached === undefined) {
        const error = `NOT_FOUND: image ${imageId} was deleted while this copy was being indexed; retry it`;
        results.push({ key, status: 'failed', error, code: 'NOT_FOUND' });
        return;
      }
      captionRows.push(...attached);
      results.push({ key, status: 'duplicate', imageId, captionIds: attached.map((c) => c.id) });
    };
    for (const item of mine) {
      if (isFailed(item))
        results.push({ key: item.key, status: 'failed', error: item.failed, code: item.code });
      else if (isDuplicate(item)) await attach(item.key, item.duplicateOf, item);
      else {
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
        // Stored meanwhile (a repeat earlier in this batch, or a concurrent writer).
        if (!inserted) {
          await attach(item.key, image.id, item);
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
            : { key: r.key, status: r.status, imageId: r.imageId },
        ),
      );
    }
    await target.claims?.finish(tx, results);
    // The lifecycle adds these to the index once the transaction has committed.
    changes.add('image', imageRows);
    changes.add('caption', captionRows);
    captionCount = captionRows.length;
    // Checked last: a request that timed out meanwhile rolls back instead of committing.
    target.signal?.throwIfAborted();
    await target.beforeCommit?.(tx);
    return results;
  });
  return { outcomes, captions: captionCount };
}

/**
 * Attaches the captions a copy brought that the stored image lacks (an exact repeat is skipped),
 * holding the image's row so a concurrent delete cannot slip in between. The stored image keeps
 * its metadata and uri: see `AddImagePayload.addedCaptions` in schema.graphql for why.
 * Undefined when the image is gone.
 */
async function attachCaptions(
  tx: Queryable,
  imageId: number,
  item: Pick<Duplicate, 'captions' | 'captionVectors'>,
): Promise<{ id: number; vector: Float32Array }[] | undefined> {
  invariant(
    item.captions.length === 0 || item.captionVectors?.length === item.captions.length,
    'a duplicate arrives with its captions embedded',
  );
  // Checked even with no captions to attach: a copy of an image deleted since the duplicate check
  // must not be recorded as done, or it would never be stored.
  if (!(await new ImagesRepository(tx).lockLive(imageId))) return undefined;
  if (item.captions.length === 0) return [];
  const added = await new CaptionsRepository(tx).addMissing(imageId, item.captions);
  const vectorOf = new Map<string, Float32Array>();
  item.captions.forEach((text, i) => vectorOf.has(text) || vectorOf.set(text, item.captionVectors![i]!));
  return added.map((c) => ({ id: c.id, vector: vectorOf.get(c.text)! }));
}
