import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { DecodeLimits } from '../media/image-decode.ts';
import type { SourceItem } from '../media/sources/types.ts';
import type { Embedder } from '../models/types.ts';
import { CaptionsRepository } from '../store/captions.repository.ts';
import type { Db } from '../store/db.ts';
import { ImagesRepository } from '../store/images.repository.ts';
import { IngestRepository, REINDEX_SOURCE } from '../store/ingest.repository.ts';
import { VectorsRepository } from '../store/vectors.repository.ts';
import { openVectorBackend } from '../store/vector/backend.ts';
import type { Config } from '../config.ts';
import { isFailed } from './items.ts';
import { embedBatch, readAndDecode } from './steps.ts';
import { mapConcurrent } from './streams.ts';

export interface ReindexOptions {
  /** @default 32 */
  batchSize?: number;
  /** @default 4 */
  concurrency?: number;
  onProgress?: (p: { images: number; captions: number; failed: number }) => void;
  /**
   * Stops after the page being embedded: its vectors are committed, the indexes are not rebuilt
   * (a later run resumes and rebuilds), and the run is recorded as stopped.
   */
  signal?: AbortSignal;
}

export interface ReindexSummary {
  /** `rebuild`: vectors for these models existed, only the index files were rebuilt. `re-embed`: the models changed. */
  mode: 'rebuild' | 're-embed';
  fingerprint: string;
  reembeddedImages: number;
  reembeddedCaptions: number;
  /** Images whose file could not be read again (moved, deleted, uploaded bytes not kept). */
  failed: number;
  topFailures: { code: string; count: number; example: string }[];
  /** Which backend was rebuilt (VECTOR_BACKEND). */
  vectorBackend: 'hnsw' | 'pgvector';
  /** pgvector: vectors copied from the stored bytea rows into its tables (none re-embedded for it). */
  movedVectors: number;
  indexedImages: number;
  indexedCaptions: number;
  elapsedMs: number;
  /** Stopped by its signal: not every image was visited and the indexes were not rebuilt. */
  stopped: boolean;
}

/**
 * `npm run reindex`. When every live image and caption already has a vector for the current
 * models, the HNSW files (or, with VECTOR_BACKEND=pgvector, the pgvector tables: the stored
 * vectors are moved into them, nothing is re-embedded) are rebuilt from Postgres. Otherwise (new encoders or a new projection)
 * the missing vectors are computed first: images re-read from their `uri`, captions from Postgres.
 * Resumable: a second run only embeds what still lacks a vector.
 */
export async function reindex(
  deps: {
    config: Pick<Config, 'paths' | 'hnsw' | 'vectorBackend'>;
    db: Db;
    embedder: Embedder;
    limits: DecodeLimits;
    logger: Logger;
  },
  options: ReindexOptions = {},
): Promise<ReindexSummary> {
  const { config, db, embedder, logger } = deps;
  const started = performance.now();
  const vectors = new VectorsRepository(db);
  const fp = embedder.fingerprint;
  const needsEmbedding =
    (await vectors.missingIds('image', fp, 1)).length > 0 ||
    (await vectors.missingIds('caption', fp, 1)).length > 0;
  const tally = {
    images: 0,
    captions: 0,
    failed: 0,
    reasons: new Map<string, { count: number; example: string }>(),
  };
  // The ledger row says whether this pass visited every image: a server refuses to start while
  // the last re-embedding for its models stopped part way (see refuseUnembedded).
  const ledger = new IngestRepository(db);
  const runId = await ledger.startRun(REINDEX_SOURCE, {
    fingerprint: fp,
    mode: needsEmbedding ? 're-embed' : 'rebuild',
  });
  if (needsEmbedding) await embedMissing(deps, options, tally);
  const stopped = options.signal?.aborted ?? false;
  const summary: ReindexSummary = {
    mode: needsEmbedding ? 're-embed' : 'rebuild',
    fingerprint: fp,
    reembeddedImages: tally.images,
    reembeddedCaptions: tally.captions,
    failed: tally.failed,
    topFailures: [...tally.reasons.entries()]
      .map(([code, r]) => ({ code, ...r }))
      .sort((a, b) => b.count - a.count)
      .slice(0, 5),
    vectorBackend: config.vectorBackend,
    movedVectors: 0,
    indexedImages: 0,
    indexedCaptions: 0,
    elapsedMs: 0,
    stopped,
  };
  if (!stopped) {
    const indexes = await openVectorBackend({
      config,
      db,
      fingerprint: fp,
      dims: embedder.dims,
      logger,
      rebuild: true,
      allowMissingVectors: true,
    });
    const sizes = indexes.sizes();
    summary.indexedImages = sizes.image;
    summary.indexedCaptions = sizes.caption;
    if (indexes.name === 'pgvector') summary.movedVectors = indexes.moved.image + indexes.moved.caption;
    await indexes.close();
  }
  summary.elapsedMs = Math.round(performance.now() - started);
  await ledger.finishRun(runId, { ...summary, complete: !stopped });
  return summary;
}

type Tally = {
  images: number;
  captions: number;
  failed: number;
  reasons: Map<string, { count: number; example: string }>;
};

/** Pages through live images by id; each page: re-read + decode + embed images, embed captions, upsert. */
async function embedMissing(
  deps: { db: Db; embedder: Embedder; limits: DecodeLimits; logger: Logger },
  options: ReindexOptions,
  tally: Tally,
): Promise<void> {
  const { db, embedder, limits, logger } = deps;
  const batchSize = options.batchSize ?? 32;
  const images = new ImagesRepository(db);
  const captionsRepo = new CaptionsRepository(db);
  const vectors = new VectorsRepository(db);
  const fp = embedder.fingerprint;
  let afterId = 0;
  for (;;) {
    if (options.signal?.aborted) break;
    const page = await images.list(undefined, { first: batchSize, afterId });
    if (page.rows.length === 0) break;
    afterId = page.rows[page.rows.length - 1]!.id;

    // Images
    const have = await vectors.get(
      'image',
      fp,
      page.rows.map((r) => r.id),
    );
    const todo = page.rows.filter((r) => !have.has(r.id));
    const items: SourceItem[] = todo.map((r) => ({
      key: String(r.id),
      uri: r.uri,
      captions: [],
      metadata: {},
      read: () => readUri(r.uri, limits.maxBytes),
    }));
    const decoded = [];
    for await (const d of mapConcurrent(toAsync(items), options.concurrency ?? 4, (i) =>
      readAndDecode(i, embedder.preprocess, limits),
    ))
      decoded.push(d);
    const { items: embedded } = await embedBatch(embedder, decoded, logger);
    const rows: { id: number; vector: Float32Array }[] = [];
    for (const e of embedded) {
      if (isFailed(e)) {
        tally.failed++;
        const r = tally.reasons.get(e.code);
        if (r) r.count++;
        else tally.reasons.set(e.code, { count: 1, example: `image ${e.key}: ${e.failed}` });
        logger.warn({ imageId: Number(e.key), error: e.failed }, 'cannot re-embed image');
      } else if ('imageVector' in e) rows.push({ id: Number(e.key), vector: e.imageVector });
    }
    await vectors.upsert('image', fp, rows);
    tally.images += rows.length;

    // Captions: the text is in Postgres, so these never fail for want of a file.
    const captions = [...(await captionsRepo.getByImageIds(page.rows.map((r) => r.id))).values()].flat();
    const haveCaptions = await vectors.get(
      'caption',
      fp,
      captions.map((c) => c.id),
    );
    const missing = captions.filter((c) => !haveCaptions.has(c.id));
    const { vectors: textVectors } = await embedder.embedTexts(missing.map((c) => c.text));
    await vectors.upsert(
      'caption',
      fp,
      missing.map((c, i) => ({ id: c.id, vector: textVectors[i]! })),
    );
    tally.captions += missing.length;

    options.onProgress?.({ images: tally.images, captions: tally.captions, failed: tally.failed });
    if (!page.hasNextPage) break;
  }
}

/** Reads an image back from where it was indexed; only local files can be re-read. */
async function readUri(uri: string, maxBytes: number): Promise<Buffer> {
  let file: string;
  if (uri.startsWith('file:')) file = fileURLToPath(uri);
  else if (path.isAbsolute(uri)) file = uri;
  else
    throw new AppError(
      'NOT_FOUND',
      `The bytes of ${uri} were not kept and it is not a local file; re-add the image`,
    );
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (cause) {
    throw new AppError('NOT_FOUND', `Image file not found: ${file} (${describeError(cause)})`, { cause });
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes)
      throw new AppError('LIMIT_EXCEEDED', `${file} is ${size} bytes, more than ${maxBytes}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function* toAsync<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
