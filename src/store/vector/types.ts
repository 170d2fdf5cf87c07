/**
 * The seam between the search engine and whatever holds vectors. Two implementations pass one
 * contract suite (test/vector/contract.test.ts): `HnswIndex` (approximate, fast) and `ExactIndex`
 * (brute force: the ground truth for recall, and the right choice for small or heavily filtered sets).
 *
 * Vectors are L2-normalised, so inner product = cosine; `score` is that inner product.
 * Ids are Postgres ids (unsigned 32-bit: what hnswlib labels can hold).
 */
import type { ImageFilter } from '../image-filter.ts';
import type { VectorKind } from '../vectors.repository.ts';
import type { CheckpointStatus } from './checkpoint-status.ts';

export interface SearchHit {
  id: number;
  /** Inner product with the query (cosine for unit vectors); higher is closer. */
  score: number;
}

/** Which ids a search may return: a set of allowed ids or a predicate. */
export type IdFilter = ReadonlySet<number> | ((id: number) => boolean);

export interface SearchOptions {
  /** Only ids the filter allows are returned. */
  filter?: IdFilter;
  /**
   * HNSW beam width for this query (ignored by exact search); raised to at least `k`.
   * @default the index's configured `ef`
   */
  ef?: number;
}

/** What `save` wrote: enough, with the file, for `load` to restore the same index. */
export interface IndexSnapshot {
  /** File name relative to the directory it was saved in. */
  file: string;
  implementation: 'hnsw' | 'exact';
  dims: number;
  /** Live vectors in the file. */
  count: number;
  /** Ids present in the file but marked deleted (HNSW keeps them in the graph). */
  deleted: number[];
  /** File size, verified after writing and checked on load. */
  bytes: number;
  /** Hex sha256 of the file, checked on load; absent only in manifests written before checksums. */
  sha256?: string | undefined;
}

export interface VectorIndex {
  readonly implementation: 'hnsw' | 'exact';
  readonly dims: number;
  /** A graph index's parameters: M and efConstruction it was built with, ef in force. */
  readonly params?: Readonly<{ m: number; efConstruction: number; ef: number }>;
  /** Live (not deleted) vectors. */
  readonly size: number;
  /**
   * Adds rows, or replaces the vector of an id already there (a deleted id comes back to life).
   * `vectors` is row-major: `ids.length * dims` floats.
   */
  add(ids: readonly number[], vectors: Float32Array): void;
  /** Marks ids deleted; unknown or already deleted ids are ignored. Returns how many were deleted now. */
  remove(ids: readonly number[]): number;
  /** Whether a live vector with this id is present. */
  has(id: number): boolean;
  /** All live ids, in no particular order. */
  ids(): number[];
  /** Up to `k` live hits, best first (score descending, ties by id ascending). */
  search(query: Float32Array, k: number, options?: SearchOptions): SearchHit[];
  /**
   * Writes the index to `dir/file` atomically (temp file, fsync, verify, rename). Rejects, leaving
   * any earlier file of that name untouched, when the written file cannot be proven complete.
   */
  save(dir: string, file: string): Promise<IndexSnapshot>;
}

/**
 * How one filtered search was answered: HNSW alone, HNSW with the filter checked in rounds, an
 * exact scan of a small allowed set, or pgvector (alone, with the filter in the same SQL, or exact).
 */
export type SearchStrategy =
  'hnsw' | 'exact' | 'hnsw-filtered' | 'pgvector' | 'pgvector-filtered' | 'pgvector-exact';

export interface KnnOptions {
  /** Only live items whose image matches it; absent or empty: every live item. */
  filter?: ImageFilter | null | undefined;
  /**
   * A filter matching at most this many items is answered exactly over their stored vectors
   * (cheaper and exact where an index would have to skip most of what it visits).
   */
  exactThreshold: number;
}

/**
 * The search seam the engine uses, one per kind (images, captions): async, and it takes the
 * metadata filter itself, so a backend can push it into SQL (pgvector) or check candidates against
 * the database in rounds (HNSW, see src/search/hnsw-search.ts). Every backend passes one contract
 * suite (test/vector/backend-contract.test.ts): results equal the exact filtered top-k.
 */
export interface VectorSearch {
  readonly implementation: 'hnsw' | 'exact' | 'pgvector';
  /** The graph's own parameters, where the backend knows them (an HNSW graph: from its manifest). */
  readonly params?: Readonly<{ m: number; efConstruction: number; ef: number }>;
  /** Live vectors. */
  count(): Promise<number>;
  /**
   * Up to `k` live hits passing the filter, best first (score descending, ties by id ascending).
   * Depends only on the query, `k`, the filter and the contents, so pages cut from it are stable.
   */
  knn(
    query: Float32Array,
    k: number,
    options: KnnOptions,
  ): Promise<{ results: SearchHit[]; strategy: SearchStrategy }>;
}

export type VectorBackendName = 'hnsw' | 'pgvector';

/** What writers (indexer, API mutations, reindex) need from the vector backend. */
export interface VectorBackend {
  readonly name: VectorBackendName;
  readonly fingerprint: string;
  readonly dims: number;
  /**
   * Call only after the rows are committed in Postgres. HNSW: into the graph. pgvector: nothing
   * to do (the vectors reached its tables in the rows' own transaction, see VectorsRepository).
   */
  add(kind: VectorKind, ids: readonly number[], vectors: Float32Array | readonly Float32Array[]): void;
  /** After a soft delete commits. Returns how many the backend dropped now (pgvector: 0, its
   * queries skip deleted images by themselves). */
  markDeleted(kind: VectorKind, ids: readonly number[]): number;
  /** Saves what the backend keeps outside Postgres; false when there was nothing to save. */
  checkpoint(): Promise<boolean>;
  checkpointStatus(): Readonly<CheckpointStatus>;
  /** Live vectors per kind, as last known: the gauge /metrics shows. */
  sizes(): Record<VectorKind, number>;
  close(): Promise<void>;
}
