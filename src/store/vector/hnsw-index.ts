import path from 'node:path';
import hnswlib from 'hnswlib-node';
import { DEFAULT_EXACT_SEARCH_THRESHOLD } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { commitAtomic } from '../../atomic-file.ts';
import { allows, checkQuery, checkRows } from './checks.ts';
import { checkFile, type FileProof } from './file-check.ts';
import { proveGraphFile } from './hnsw-file.ts';
import { DEFAULT_HNSW_PARAMS, type HnswOptions, type HnswParams } from './hnsw-options.ts';
import { GraphRebuild } from './hnsw-rebuild.ts';
import { TopK, dotRow, sortHits } from './top-k.ts';
import type { IndexSnapshot, SearchHit, SearchOptions, VectorIndex } from './types.ts';

export { DEFAULT_HNSW_PARAMS, type HnswOptions, type HnswParams } from './hnsw-options.ts';

/** Rows a new or compacted graph reserves at least; also the floor of every resize. */
const MIN_CAPACITY = 16;

/**
 * hnswlib's HNSW graph in inner-product space. Vectors must be L2-normalised by the caller (the
 * projection does it), so the score `1 - distance` is the cosine.
 *
 * hnswlib-node only takes plain `number[]` (its binding checks `IsArray()`), so each vector is
 * converted once at the boundary, in `add` and `search`, never twice.
 */
export class HnswIndex implements VectorIndex {
  readonly implementation = 'hnsw' as const;
  readonly params: Readonly<HnswParams>;
  private native: hnswlib.HierarchicalNSW;
  private labels = new Set<number>();
  private deleted = new Set<number>();
  private readonly exactFilterLimit: number;
  private readonly compactAt: number;
  private readonly seed: number;
  private readonly backgroundRebuild: boolean;
  private readonly rebuildSlice: number;
  private readonly onRebuildError: (error: unknown) => void;
  /** The background rebuild in progress and its promise (resolves true once swapped in). */
  private rebuild: { job: GraphRebuild; done: Promise<boolean> } | undefined;
  /** Graph rebuilds done to drop deleted ids (see `compactAt`). */
  compactions = 0;

  private constructor(
    readonly dims: number,
    options: HnswOptions,
    init: ((native: hnswlib.HierarchicalNSW) => void) | undefined,
  ) {
    if (!Number.isInteger(dims) || dims <= 0)
      throw new AppError('INVALID_INPUT', `dims must be a positive integer, got ${dims}`);
    this.params = Object.freeze({
      m: options.m ?? DEFAULT_HNSW_PARAMS.m,
      efConstruction: options.efConstruction ?? DEFAULT_HNSW_PARAMS.efConstruction,
      ef: options.ef ?? DEFAULT_HNSW_PARAMS.ef,
    });
    this.exactFilterLimit = options.exactFilterLimit ?? DEFAULT_EXACT_SEARCH_THRESHOLD;
    this.compactAt = options.compactAt ?? 0.5;
    if (!(this.compactAt > 0 && this.compactAt <= 1))
      throw new AppError('INVALID_INPUT', `compactAt must be in (0, 1], got ${this.compactAt}`);
    this.seed = options.seed ?? 100;
    this.backgroundRebuild = options.backgroundRebuild ?? false;
    this.rebuildSlice = options.rebuildSlice ?? 32;
    if (!Number.isInteger(this.rebuildSlice) || this.rebuildSlice < 1)
      throw new AppError(
        'INVALID_INPUT',
        `rebuildSlice must be a positive integer, got ${this.rebuildSlice}`,
      );
    this.onRebuildError = options.onRebuildError ?? (() => undefined);
    if (init) {
      this.native = new hnswlib.HierarchicalNSW('ip', dims);
      init(this.native);
      this.native.setEf(this.params.ef);
    } else this.native = this.emptyGraph(options.initialCapacity ?? 1024);
  }

  static create(dims: number, options: HnswOptions = {}): HnswIndex {
    return new HnswIndex(dims, options, undefined);
  }

  /**
   * Restores an index saved by `save`; the snapshot carries the deleted ids hnswlib cannot list.
   * The file must match the manifest's size and checksum, so a short or damaged file is refused
   * with INDEX_CORRUPT instead of being read.
   */
  static async load(dir: string, snapshot: IndexSnapshot, options: HnswOptions = {}): Promise<HnswIndex> {
    const full = path.join(dir, snapshot.file);
    await checkFile(full, snapshot);
    const index = new HnswIndex(snapshot.dims, options, (native) => {
      try {
        native.readIndexSync(full);
      } catch (cause) {
        throw new AppError('INDEX_CORRUPT', `Index file ${full} could not be loaded`, { cause });
      }
    });
    for (const id of index.native.getIdsList()) index.labels.add(id);
    for (const id of snapshot.deleted) {
      if (index.labels.has(id)) index.deleted.add(id);
    }
    if (index.size !== snapshot.count) {
      throw new AppError(
        'INDEX_CORRUPT',
        `Index file ${full} holds ${index.size} live vectors, the manifest says ${snapshot.count}`,
      );
    }
    // Files saved before compaction existed may hold points added to a mostly deleted graph.
    index.compactIfNeeded();
    return index;
  }

  get size(): number {
    return this.labels.size - this.deleted.size;
  }

  get capacity(): number {
    return this.native.getMaxElements();
  }

  add(ids: readonly number[], vectors: Float32Array): void {
    checkRows(ids, vectors, this.dims);
    if (this.backgroundRebuild) void this.compactInBackground();
    else this.compactIfNeeded();
    let needed = this.native.getCurrentCount();
    for (const id of new Set(ids)) if (!this.labels.has(id)) needed++;
    // A loaded empty file reports capacity 0, so grow from a floor, never by doubling alone.
    if (needed > this.capacity) this.native.resizeIndex(Math.max(needed, 2 * this.capacity, MIN_CAPACITY));
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      // Re-adding an existing label updates its vector and unmarks a deletion (hnswlib >= 0.7).
      this.native.addPoint(Array.from(vectors.subarray(i * this.dims, (i + 1) * this.dims)), id);
      this.labels.add(id);
      this.deleted.delete(id);
      this.rebuild?.job.touched(id, true);
    }
  }

  /** Whether deleted ids have reached `compactAt` of the graph. */
  private compactionDue(): boolean {
    return this.deleted.size > 0 && this.deleted.size >= this.compactAt * this.labels.size;
  }

  /**
   * Rebuilds the graph from the live vectors when deleted ids reach `compactAt` of it, in one
   * synchronous step (so no search sees half a graph); a background rebuild in progress is
   * cancelled first. Returns whether it rebuilt.
   */
  compactIfNeeded(): boolean {
    if (!this.compactionDue()) return false;
    this.rebuild?.job.cancel();
    this.rebuild = undefined;
    const live = this.ids();
    const next = this.emptyGraph(Math.max(2 * live.length, MIN_CAPACITY));
    for (const id of live) next.addPoint(this.native.getPoint(id), id);
    this.native = next;
    this.labels = new Set(live);
    this.deleted = new Set();
    this.compactions++;
    return true;
  }

  /**
   * Starts a sliced rebuild (see `backgroundRebuild`) when one is due and none runs; resolves
   * when the running or started one ends: true once swapped in, false when none was due, it was
   * cancelled, or it failed (reported to `onRebuildError`).
   */
  compactInBackground(): Promise<boolean> {
    if (this.rebuild) return this.rebuild.done;
    if (!this.compactionDue()) return Promise.resolve(false);
    const live = this.ids();
    const source = { point: (id: number) => this.native.getPoint(id), has: (id: number) => this.has(id) };
    const next = this.emptyGraph(Math.max(2 * live.length, MIN_CAPACITY));
    const job = new GraphRebuild(source, next, live, this.rebuildSlice);
    let swapped = false;
    const done = job
      .run((graph) => {
        // The one synchronous step: from here on searches and writes use the new graph. (With
        // nothing live it runs at once, inside this call.)
        this.native = graph.native;
        this.labels = graph.labels;
        this.deleted = graph.deleted;
        this.compactions++;
        swapped = true;
        if (this.rebuild?.job === job) this.rebuild = undefined;
      })
      .catch((error: unknown) => {
        this.onRebuildError(error);
        return false;
      })
      .finally(() => {
        if (this.rebuild?.job === job) this.rebuild = undefined;
      });
    if (!swapped) this.rebuild = { job, done };
    return done;
  }

  /** Whether a background rebuild is in progress. */
  get rebuilding(): boolean {
    return this.rebuild !== undefined;
  }

  /** Stops a background rebuild at its next slice and waits for it; this graph stays in force. */
  async cancelRebuild(): Promise<void> {
    const running = this.rebuild;
    if (!running) return;
    running.job.cancel();
    await running.done;
  }

  remove(ids: readonly number[]): number {
    let removed = 0;
    for (const id of ids) {
      if (!this.labels.has(id) || this.deleted.has(id)) continue;
      this.native.markDelete(id);
      this.deleted.add(id);
      this.rebuild?.job.touched(id, false);
      removed++;
    }
    return removed;
  }

  has(id: number): boolean {
    return this.labels.has(id) && !this.deleted.has(id);
  }

  ids(): number[] {
    const out: number[] = [];
    for (const id of this.labels) if (!this.deleted.has(id)) out.push(id);
    return out;
  }

  /** Ids kept in the graph but marked deleted. */
  deletedIds(): number[] {
    return [...this.deleted];
  }

  search(query: Float32Array, k: number, options: SearchOptions = {}): SearchHit[] {
    checkQuery(query, this.dims, k);
    const want = Math.min(k, this.size);
    if (want === 0) return [];
    const { filter } = options;
    if (filter !== undefined && typeof filter !== 'function' && filter.size <= this.exactFilterLimit) {
      return this.searchSubset(query, want, filter);
    }
    return this.searchArray(Array.from(query), want, options);
  }

  /**
   * `search` for a query already converted to the plain array hnswlib-node wants, so a caller
   * asking one query many times (several ef values, several filters) converts it once.
   */
  searchArray(query: readonly number[], k: number, options: SearchOptions = {}): SearchHit[] {
    if (query.length !== this.dims) checkQuery(new Float32Array(query.length), this.dims, k);
    const want = Math.min(k, this.size);
    if (want === 0) return [];
    const { filter } = options;
    this.native.setEf(Math.max(want, options.ef ?? this.params.ef));
    const predicate = filter === undefined ? undefined : (id: number) => allows(filter, id);
    const result = this.native.searchKnn(query as number[], want, predicate);
    const hits: SearchHit[] = [];
    for (let i = 0; i < result.neighbors.length; i++) {
      hits.push({ id: result.neighbors[i] as number, score: 1 - (result.distances[i] as number) });
    }
    // While a rebuild runs, the mostly deleted graph may not reach points added since it began.
    if (this.rebuild) this.rebuild.job.mergeRecent(hits, query, (id) => !predicate || predicate(id));
    return sortHits(hits).slice(0, want);
  }

  /**
   * Writes the graph to `dir/file` atomically and proves the temp file before it is renamed into
   * place: hnswlib's writer ignores write errors (a full disk leaves a short file), so the file is
   * read back by hnswlib itself, which checks its structure against its length, and must hold
   * exactly the points written. Its size and sha256 go into the snapshot for `load` to check.
   */
  async save(dir: string, file: string): Promise<IndexSnapshot> {
    const full = path.join(dir, file);
    let count = 0;
    let points = 0;
    let deleted: number[] = [];
    // The sync writer on purpose: the async one runs on a worker thread and would race with
    // addPoint. Count and deletions are read in the same synchronous step, so they describe
    // exactly the file even if vectors are added while the file is being fsynced.
    const proof = (await commitAtomic(
      full,
      (tmp) => {
        this.native.writeIndexSync(tmp);
        count = this.size;
        points = this.native.getCurrentCount();
        deleted = this.deletedIds();
      },
      (tmp) => proveGraphFile(tmp, this.dims, points),
    )) as FileProof;
    return { file, implementation: 'hnsw', dims: this.dims, count, deleted, ...proof };
  }

  private emptyGraph(capacity: number): hnswlib.HierarchicalNSW {
    const native = new hnswlib.HierarchicalNSW('ip', this.dims);
    native.initIndex({
      maxElements: Math.max(MIN_CAPACITY, capacity),
      m: this.params.m,
      efConstruction: this.params.efConstruction,
      randomSeed: this.seed,
    });
    native.setEf(this.params.ef);
    return native;
  }

  private searchSubset(query: Float32Array, k: number, allowed: ReadonlySet<number>): SearchHit[] {
    const top = new TopK(k);
    const row = new Float32Array(this.dims);
    for (const id of allowed) {
      if (!this.has(id)) continue;
      row.set(this.native.getPoint(id));
      top.push(id, dotRow(query, row, 0, this.dims));
    }
    return top.result();
  }
}
