/**
 * Stage 2: nearest neighbours, with or without a metadata filter. A filter matching few ids (at
 * most `exactThreshold`, learnt by fetching one more than that) is searched exactly over their
 * stored vectors; a broader one goes through HNSW, checking candidates against the filter in
 * growing rounds (filtered-search.ts), so no query loads every matching id.
 */
import type { ImageFilter } from '../store/image-filter.ts';
import type { VectorsRepository } from '../store/vectors.repository.ts';
import { ExactIndex } from '../store/vector/exact-index.ts';
import type { SearchStrategy } from '../store/vector/types.ts';
import { compareRanked } from './cursor.ts';
import { searchFiltered } from './filtered-search.ts';
import type { ScoredId, SearchableIndex, Target } from './types.ts';

export interface RetrieveDeps {
  kind: Target;
  index: SearchableIndex;
  vectors: VectorsRepository;
  fingerprint: string;
  /** Live ids of this kind whose image matches `filter`, ascending, at most `limit`. */
  filterIds: (filter: ImageFilter, limit: number) => Promise<number[]>;
  /** Which of `ids` are live and match `filter`. */
  filterAmong: (ids: readonly number[], filter: ImageFilter) => Promise<number[]>;
  /** Filtered sets up to this size are searched exactly (config.search.exactThreshold). */
  exactThreshold: number;
}

/** Which path a search took; `retrieve` (HNSW) takes the first three. */
export type Strategy = SearchStrategy;

export function isEmptyFilter(filter: ImageFilter | null | undefined): boolean {
  if (!filter) return true;
  return Object.values(filter).every(
    (v) =>
      v === undefined ||
      v === null ||
      (Array.isArray(v) && v.length === 0) ||
      (typeof v === 'string' && v.trim() === '') ||
      (typeof v === 'object' && !(v instanceof Date) && !Array.isArray(v) && Object.keys(v).length === 0),
  );
}

/** Exact top-k over the given vectors (the ground truth the HNSW path is tested against). */
export function exactTopK(query: Float32Array, vectors: Map<number, Float32Array>, k: number): ScoredId[] {
  if (vectors.size === 0) return [];
  const index = new ExactIndex(query.length, vectors.size);
  const ids = [...vectors.keys()];
  const rows = new Float32Array(ids.length * query.length);
  ids.forEach((id, i) => rows.set(vectors.get(id)!, i * query.length));
  index.add(ids, rows);
  return index.search(query, k);
}

export async function retrieve(
  query: Float32Array,
  k: number,
  filter: ImageFilter | null | undefined,
  deps: RetrieveDeps,
): Promise<{ results: ScoredId[]; strategy: Strategy }> {
  if (k <= 0) return { results: [], strategy: 'hnsw' };
  if (isEmptyFilter(filter)) {
    const results = await deps.index.search(query, k);
    return { results: results.slice().sort(compareRanked), strategy: 'hnsw' };
  }
  const small = await deps.filterIds(filter!, deps.exactThreshold + 1);
  if (small.length <= deps.exactThreshold) {
    const vectors = await deps.vectors.get(deps.kind, deps.fingerprint, small);
    return { results: exactTopK(query, vectors, k), strategy: 'exact' };
  }
  const results = await searchFiltered(query, k, filter!, deps);
  return { results, strategy: 'hnsw-filtered' };
}
