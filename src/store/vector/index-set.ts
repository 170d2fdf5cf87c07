import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';
import { AppError, isAppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Queryable } from '../db.ts';
import { IngestRepository } from '../ingest.repository.ts';
import { VectorsRepository, type VectorKind } from '../vectors.repository.ts';
import { HnswIndex } from './hnsw-index.ts';
import { fingerprintDir, readManifest, writeManifest, type IndexManifest } from './manifest.ts';
import { createCheckpointStatus, type CheckpointStatus } from './checkpoint-status.ts';
import { reconcile, type ReconcileReport } from './reconcile.ts';
import { refuseUnembedded } from './refuse-unembedded.ts';
import type { VectorBackend, VectorIndex } from './types.ts';

/** The two indexes of one model fingerprint: image vectors and caption vectors, ids = Postgres ids. */
export interface IndexSet extends VectorBackend {
  readonly name: 'hnsw';
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
  /**
   * Cancels a background graph rebuild (the graph in force is complete), checkpoints and
   * releases.
   */
  close(): Promise<void>;
}

export interface OpenIndexesOptions {
  config: Pick<Config, 'paths' | 'hnsw'> & Partial<Pick<Config, 'search'>>;
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
  /**
   * Vectors a background graph rebuild (after mass deletes, see `HnswOptions.compactAt`) inserts
   * per event-loop turn: an add never runs a whole rebuild in one turn, so a server keeps
   * answering meanwhile. @default 32
   */
  rebuildSlice?: number;
  /**
   * Never write under the index directory (a `--read-only` server beside a writer, on a shared
   * PostgreSQL database): load, catch up with Postgres and follow it in memory; checkpoints save
   * nothing, so the writer's files are never touched. @default false
   */
  readOnly?: boolean;
}

const KINDS: readonly VectorKind[] = ['image', 'caption'];

export async function openIndexes(options: OpenIndexesOptions): Promise<IndexSet> {
  const { config, db, fingerprint, dims, logger } = options;
  const dir = path.join(config.paths.indexes, fingerprintDir(fingerprint));
  const vectors = new VectorsRepository(db);
  // One writer per directory is the caller's DATA_DIR lock (src/store/open-store.ts), taken
  // before the database was opened; readers take none and write nothing.
  const readOnly = options.readOnly === true;
  if (!readOnly) await mkdir(dir, { recursive: true });
  const { manifest, indexes, reconciled, maxIds } = readOnly
    ? await loadBesideWriter(options, dir, vectors)
    : await loadAndReconcile(options, dir, vectors);
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
  // A swapped-in rebuild changes the file (not the contents): saved by the next checkpoint, so a
  // restart loads the repaired graph instead of repairing it again, synchronously.
  const watched = new Set<VectorKind>();
  function watchRebuild(kind: VectorKind): void {
    if (!indexes[kind].rebuilding || watched.has(kind)) return;
    watched.add(kind);
    void indexes[kind].compactInBackground().then((swapped) => {
      watched.delete(kind);
      if (swapped) version++;
    });
  }

  async function save(): Promise<boolean> {
    if (readOnly || version === savedVersion) return false;
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
    name: 'hnsw',
    fingerprint,
    dims,
    dir,
    images: indexes.image,
    captions: indexes.caption,
    reconciled,
    add(kind, ids, rows) {
      assertOpen();
      const flat = rows instanceof Float32Array ? rows : stack(rows, dims);
      // Never a whole graph rebuild in this turn: one that falls due runs in slices (index options).
      indexes[kind].add(ids, flat);
      for (const id of ids) if (id > maxIds[kind]) maxIds[kind] = id;
      version++;
      watchRebuild(kind);
    },
    markDeleted(kind, ids) {
      assertOpen();
      const n = indexes[kind].remove(ids);
      if (n > 0) version++;
      return n;
    },
    checkpoint() {
      assertOpen();
      // During a background rebuild this saves the graph in force, never the half-built one: the
      // old graph holds every write until the swap, so the file is complete and consistent.
      // One at a time: two overlapping checkpoints would write the same generation.
      const run = saving.then(save, save);
      saving = run.catch(() => undefined);
      return run;
    },
    checkpointStatus: () => status.current(),
    sizes: () => ({ image: indexes.image.size, caption: indexes.caption.size }),
    async close() {
      if (closed) return;
      try {
        // Cancelled, not awaited: a rebuild can take tens of seconds and shutdown must not wait.
        // The graph in force is complete; the next start repairs it while loading.
        for (const kind of KINDS) await indexes[kind].cancelRebuild();
        await set.checkpoint();
      } finally {
        closed = true;
        // Again once no add can start one: an add racing with the checkpoint may have.
        for (const kind of KINDS) await indexes[kind].cancelRebuild();
      }
    },
  };
  return set;

  function assertOpen(): void {
    if (closed) throw new Error('Invariant violated: index set used after close()');
  }
}

/**
 * A reader loads while the writer may be checkpointing: a manifest read just before the writer
 * committed the next generation names files the writer then removes. Read the manifest again and
 * retry, a few times; a file that stays wrong is corrupt.
 */
async function loadBesideWriter(options: OpenIndexesOptions, dir: string, vectors: VectorsRepository) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadAndReconcile(options, dir, vectors);
    } catch (error) {
      if (!isAppError(error, 'INDEX_CORRUPT') || attempt === 3) throw error;
      options.logger.warn(
        { err: error, attempt },
        'index files changed while loading; reading the manifest again',
      );
    }
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
  const background = {
    ...(config.search ? { exactFilterLimit: config.search.exactThreshold } : {}),
    backgroundRebuild: true,
    ...(options.rebuildSlice === undefined ? {} : { rebuildSlice: options.rebuildSlice }),
  };
  const indexes = {} as Record<VectorKind, HnswIndex>;
  const reconciled = {} as Record<VectorKind, ReconcileReport>;
  const maxIds = {} as Record<VectorKind, number>;
  for (const kind of KINDS) {
    const snapshot = manifest?.indexes[kind];
    // A saved graph keeps the M and efConstruction it was built with; only ef is a search-time knob.
    const onRebuildError = (err: unknown) =>
      logger.error(
        { err, kind },
        'background index rebuild failed; the current graph stays and the next add retries',
      );
    indexes[kind] = snapshot
      ? await HnswIndex.load(dir, snapshot, {
          ...manifest!.params,
          ef: params.ef,
          ...background,
          onRebuildError,
        })
      : HnswIndex.create(dims, { ...params, ...background, onRebuildError });
    reconciled[kind] = await reconcile(indexes[kind], vectors, kind, fingerprint, snapshot?.maxId ?? 0);
    maxIds[kind] = reconciled[kind].maxId;
  }
  return { manifest, indexes, reconciled, maxIds };
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
