/**
 * The seam between the search engine and whatever holds vectors. Two implementations pass one
 * contract suite (test/vector/contract.test.ts): `HnswIndex` (approximate, fast) and `ExactIndex`
 * (brute force: the ground truth for recall, and the right choice for small or heavily filtered sets).
 *
 * Vectors are L2-normalised, so inner product = cosine; `score` is that inner product.
 * Ids are Postgres ids (unsigned 32-bit: what hnswlib labels can hold).
 */

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
