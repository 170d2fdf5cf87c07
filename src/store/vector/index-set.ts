import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Queryable } from '../db.ts';
import { IngestRepository } from '../ingest.repository.ts';
import { VectorsRepository, type VectorKind } from '../vectors.repository.ts';
import { HnswIndex } from './hnsw-index.ts';
import { fingerprintDir, readManifest, writeManifest, type IndexManifest } from './manifest.ts';
import { createCheckpointStatus, type CheckpointStatus } from './checkpoint-status.ts';
import { reconcile, type ReconcileReport } from './reconcile.ts';
import type { VectorIndex } from './types.ts';

/** The two indexes of one model fingerprint: image vectors and caption vectors, ids = Postgres ids. */
export interface IndexSet {
  readonly fingerprint: string;
  readonly dims: number;
  readonly dir: string;
  readonly images: VectorIndex;
  readonly captions: VectorIndex;
  /** What opening found and repaired, per kind. */
  readonly reconciled: Readonly<Record<VectorKind, ReconcileReport>>;
  /** Call only after the rows are committed in Postgres. `vectors`: row-major, or one array per id. */
  add(kind: VectorKind, ids: readonly number[], vectors: Float32Array | readonly Float32Array[]): void;
  markDeleted(kind: VectorKind, ids: readonly number[]): number;
  /**
   * Saves both indexes, proves the files, then commits the manifest naming them; false when
   * nothing changed. A failure rejects, leaves the previous generation in force and shows in
   * `checkpointStatus()`.
   */
  checkpoint(): Promise<boolean>;
  /** How the checkpoints went: for `/readyz` and `/metrics`. */
  checkpointStatus(): Readonly<CheckpointStatus>;
  /** Checkpoints and releases. */
  close(): Promise<void>;
}

export interface OpenIndexesOptions {
  config: Pick<Config, 'paths' | 'hnsw'>;
  db: Queryable;
  fingerprint: string;
  dims: number;
  logger: Logger;
  /**
   * Ignore any saved files and build both indexes from the vectors in Postgres (`npm run reindex`
   * when the models did not change, or a corrupt file). @default false
   */
  rebuild?: boolean;
  /**
   * Open even when live images have no vector for this fingerprint (the re-embedding reindex
   * itself). Everyone else is refused with MODEL_MISMATCH, so models are never silently mixed.
   * @default false
   */
  allowMissingVectors?: boolean;
}

const KINDS: readonly VectorKind[] = ['image', 'caption'];

export async function openIndexes(options: OpenIndexesOptions): Promise<IndexSet> {
  const { config, db, fingerprint, dims, logger } = options;
  const dir = path.join(config.paths.indexes, fingerprintDir(fingerprint));
  const vectors = new VectorsRepository(db);
  // One writer per directory is the caller's DATA_DIR lock (src/store/open-store.ts), taken
  // before the database was opened.
  await mkdir(dir, { recursive: true });
  const { manifest, indexes, reconciled, maxIds } = await loadAndReconcile(options, dir, vectors);
  logger.info(
    { dir, fingerprint, images: indexes.image.size, captions: indexes.caption.size, reconciled },
    'indexes open',
  );

  let generation = manifest?.generation ?? 0;
  const dirty =
    manifest === undefined || KINDS.some((k) => reconciled[k].added > 0 || reconciled[k].deleted > 0);
  let closed = false;
  // Bumped by every change; a checkpoint remembers the value it saved, so changes made while
  // it was writing are saved by the next one.
  let version = 0;
  let savedVersion = dirty ? -1 : 0;
  let saving: Promise<unknown> = Promise.resolve();
  const status = createCheckpointStatus(generation);

  async function save(): Promise<boolean> {
    if (version === savedVersion) return false;
    const target = version;
    const next = generation + 1;
    try {
      await mkdir(dir, { recursive: true });
      // Read before the (synchronous) writes start, so the manifest never names an id a file lacks.
      const snapshotMaxIds = { ...maxIds };
      await writeGeneration(dir, next, indexes, snapshotMaxIds, { fingerprint, dims });
    } catch (error) {
      status.failed(error);
      logger.error({ err: error, dir, generation: next }, 'index checkpoint failed; the previous one stays');
      // Cleanup is best effort and must not replace the checkpoint's own error.
      await discardGeneration(dir, next).catch((err: unknown) =>
        logger.warn({ err, dir, generation: next }, 'could not remove the failed checkpoint files'),
      );
      throw error;
    }
    generation = next;
    savedVersion = target;
    status.succeeded(next);
    await removeStaleFiles(dir, next).catch((err: unknown) =>
      logger.warn({ err, dir }, 'could not remove old index files'),
    );
    logger.debug(
      { dir, generation, images: indexes.image.size, captions: indexes.caption.size },
      'index checkpoint',
    );
    return true;
  }

  const set: IndexSet = {
    fingerprint,
    dims,
    dir,
    images: indexes.image,
    captions: indexes.caption,
    reconciled,
    add(kind, ids, rows) {
      assertOpen();
      const flat = rows instanceof Float32Array ? rows : stack(rows, dims);
      indexes[kind].add(ids, flat);
      for (const id of ids) if (id > maxIds[kind]) maxIds[kind] = id;
      version++;
    },
    markDeleted(kind, ids) {
      assertOpen();
      const n = indexes[kind].remove(ids);
      if (n > 0) version++;
      return n;
    },
    checkpoint() {
      assertOpen();
      // One at a time: two overlapping checkpoints would write the same generation.
      const run = saving.then(save, save);
      saving = run.catch(() => undefined);
      return run;
    },
    checkpointStatus: () => status.current(),
    async close() {
      if (closed) return;
      try {
        await set.checkpoint();
      } finally {
        closed = true;
      }
    },
  };
  return set;

  function assertOpen(): void {
    if (closed) throw new Error('Invariant violated: index set used after close()');
  }
}

/** Checks the models, loads the saved files (or starts empty) and catches up with Postgres. */
async function loadAndReconcile(options: OpenIndexesOptions, dir: string, vectors: VectorsRepository) {
  const { config, fingerprint, dims, logger } = options;
  // Check the models before touching anything.
  const manifest = options.rebuild ? undefined : await readManifest(dir);
  if (manifest && (manifest.fingerprint !== fingerprint || manifest.dims !== dims)) {
    throw new AppError(
      'MODEL_MISMATCH',
      `The index in ${dir} was built with models ${manifest.fingerprint} (${manifest.dims}-d), ` +
        `the current models are ${fingerprint} (${dims}-d); run \`npm run reindex\` to rebuild it`,
      { details: { indexFingerprint: manifest.fingerprint, currentFingerprint: fingerprint } },
    );
  }
  if (!options.allowMissingVectors)
    await refuseUnembedded(
      vectors,
      new IngestRepository(options.db),
      fingerprint,
      config.paths.indexes,
      logger,
    );

  // Load what was saved (or start empty), then catch up with Postgres.
  const params = config.hnsw;
  const indexes = {} as Record<VectorKind, HnswIndex>;
  const reconciled = {} as Record<VectorKind, ReconcileReport>;
  const maxIds = {} as Record<VectorKind, number>;
  for (const kind of KINDS) {
    const snapshot = manifest?.indexes[kind];
    // A saved graph keeps the M and efConstruction it was built with; only ef is a search-time knob.
    indexes[kind] = snapshot
      ? await HnswIndex.load(dir, snapshot, { ...manifest!.params, ef: params.ef })
      : HnswIndex.create(dims, params);
    reconciled[kind] = await reconcile(indexes[kind], vectors, kind, fingerprint, snapshot?.maxId ?? 0);
    maxIds[kind] = reconciled[kind].maxId;
  }
  return { manifest, indexes, reconciled, maxIds };
}

/**
 * Models changed but the vectors were never recomputed: searching would find nothing, or mix two
 * spaces. Refused. A reindex that stopped part way (SIGKILL, Ctrl-C) is refused too: serving it
 * would answer for a fraction of the collection, with NOT_FOUND for images that exist, and nothing
 * in an answer says so; finishing it is one resumable command. Images left without a vector by a
 * reindex that went to the end (their files could not be read again) are only reported: the rest
 * of the collection stays searchable.
 */
async function refuseUnembedded(
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

/**
 * Writes generation `next`: each index file proven (size, read-back, sha256) before the manifest
 * naming it is committed. The manifest's rename is the commit point.
 */
async function writeGeneration(
  dir: string,
  next: number,
  indexes: Record<VectorKind, HnswIndex>,
  maxIds: Record<VectorKind, number>,
  models: { fingerprint: string; dims: number },
): Promise<void> {
  const saved = {} as IndexManifest['indexes'];
  for (const kind of KINDS) {
    const snapshot = await indexes[kind].save(dir, generationFile(kind, next));
    saved[kind] = { ...snapshot, maxId: maxIds[kind] };
  }
  await writeManifest(dir, {
    version: 1,
    ...models,
    params: indexes.image.params,
    generation: next,
    savedAt: new Date().toISOString(),
    indexes: saved,
  });
}

/**
 * Frees the space a failed checkpoint used (a full disk is the usual cause). Its files are never
 * the committed ones, unless the manifest rename went through and only the directory sync
 * failed: then the manifest on disk names them and they stay.
 */
async function discardGeneration(dir: string, generation: number): Promise<void> {
  const onDisk = await readManifest(dir).catch(() => undefined);
  if (onDisk?.generation === generation) return;
  for (const kind of KINDS) await rm(path.join(dir, generationFile(kind, generation)), { force: true });
}

function generationFile(kind: VectorKind, generation: number): string {
  return `${kind}.${generation}.hnsw`;
}

/** Files of older generations: safe to delete once the new manifest is committed. */
async function removeStaleFiles(dir: string, generation: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const match = /^(image|caption)\.(\d+)\.hnsw$/.exec(name);
    if ((match && Number(match[2]) !== generation) || name.includes('.tmp-')) {
      await rm(path.join(dir, name), { force: true });
    }
  }
}

function stack(rows: readonly Float32Array[], dims: number): Float32Array {
  const flat = new Float32Array(rows.length * dims);
  rows.forEach((r, i) => {
    if (r.length !== dims) throw new AppError('INVALID_INPUT', `Expected ${dims}-d vectors, got ${r.length}`);
    flat.set(r, i * dims);
  });
  return flat;
}
