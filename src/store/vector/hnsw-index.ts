import { stat } from 'node:fs/promises';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import { AppError } from '../../errors.ts';
import { commitAtomic } from '../../atomic-file.ts';
import { allows, checkQuery, checkRows } from './checks.ts';
import { TopK, dotRow, sortHits } from './top-k.ts';
import type { IndexSnapshot, SearchHit, SearchOptions, VectorIndex } from './types.ts';

export interface HnswParams {
  /** Graph degree. @default 16 */
  m: number;
  /** Beam width while building. @default 200 */
  efConstruction: number;
  /** Beam width while searching (raised to at least k per query). @default 64 */
  ef: number;
}

export const DEFAULT_HNSW_PARAMS: Readonly<HnswParams> = Object.freeze({
  m: 16,
  efConstruction: 200,
  ef: 64,
});

export interface HnswOptions extends Partial<HnswParams> {
  /** Rows allocated up front; the index doubles when full. @default 1024 */
  initialCapacity?: number;
  /**
   * A filter given as a Set at most this large is answered by exact scoring of just those ids,
   * which beats a graph walk that must reject almost every node it visits. @default 2048
   */
  exactFilterLimit?: number;
  /** Seed of hnswlib's level generator, so builds are reproducible. @default 100 */
  seed?: number;
}

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
  private readonly native: hnswlib.HierarchicalNSW;
  private readonly labels = new Set<number>();
  private readonly deleted = new Set<number>();
  private readonly exactFilterLimit: number;

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
    this.exactFilterLimit = options.exactFilterLimit ?? 2048;
    this.native = new hnswlib.HierarchicalNSW('ip', dims);
    if (init) init(this.native);
    else {
      this.native.initIndex({
        maxElements: Math.max(16, options.initialCapacity ?? 1024),
        m: this.params.m,
        efConstruction: this.params.efConstruction,
        randomSeed: options.seed ?? 100,
      });
    }
    this.native.setEf(this.params.ef);
  }

  static create(dims: number, options: HnswOptions = {}): HnswIndex {
    return new HnswIndex(dims, options, undefined);
  }

  /** Restores an index saved by `save`; the snapshot carries the deleted ids hnswlib cannot list. */
  static async load(dir: string, snapshot: IndexSnapshot, options: HnswOptions = {}): Promise<HnswIndex> {
    const full = path.join(dir, snapshot.file);
    const info = await stat(full).catch((cause: unknown) => {
      throw new AppError('INDEX_CORRUPT', `Cannot read index file ${full}`, { cause });
    });
    if (info.size !== snapshot.bytes) {
      throw new AppError(
        'INDEX_CORRUPT',
        `Index file ${full} is ${info.size} bytes, the manifest says ${snapshot.bytes}`,
      );
    }
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
    let needed = this.native.getCurrentCount();
    for (const id of ids) if (!this.labels.has(id)) needed++;
    if (needed > this.capacity) {
      let next = this.capacity;
      while (next < needed) next *= 2;
      this.native.resizeIndex(next);
    }
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      // Re-adding an existing label updates its vector and unmarks a deletion (hnswlib >= 0.7).
      this.native.addPoint(Array.from(vectors.subarray(i * this.dims, (i + 1) * this.dims)), id);
      this.labels.add(id);
      this.deleted.delete(id);
    }
  }

  remove(ids: readonly number[]): number {
    let removed = 0;
    for (const id of ids) {
      if (!this.labels.has(id) || this.deleted.has(id)) continue;
      this.native.markDelete(id);
      this.deleted.add(id);
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
    return sortHits(hits);
  }

  async save(dir: string, file: string): Promise<IndexSnapshot> {
    const full = path.join(dir, file);
    let count = 0;
    let deleted: number[] = [];
    // The sync writer on purpose: the async one runs on a worker thread and would race with
    // addPoint. Count and deletions are read in the same synchronous step, so they describe
    // exactly the file even if vectors are added while the file is being fsynced.
    await commitAtomic(full, (tmp) => {
      this.native.writeIndexSync(tmp);
      count = this.size;
      deleted = this.deletedIds();
    });
    const { size } = await stat(full);
    return { file, implementation: 'hnsw', dims: this.dims, count, deleted, bytes: size };
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
