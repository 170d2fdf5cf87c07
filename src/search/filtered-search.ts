/**
 * Filtered nearest neighbours over an index that cannot evaluate the filter itself, the way
 * pgvector 0.8's iterative index scans do it: ask the graph for the `probe` nearest, ask the
 * database which of them pass the filter, and grow `probe` (and the beam width with it, from the
 * pass rate seen) until `k` pass or the probe covers the whole index.
 *
 * This replaces loading every matching id into a Set (up to 100k per query, and silently only the
 * 100k lowest ids beyond that). The database is asked only about candidates, one query per round.
 * The function has the shape of a filter-taking vector seam, `(query, k, filter) -> hits`, so an
 * async VectorIndex that takes the ImageFilter (the planned pgvector backend pushes it into SQL)
 * can use it as the HNSW backend's implementation.
 */
import { invariant } from '../errors.ts';
import type { ImageFilter } from '../store/image-filter.ts';
import type { ScoredId, SearchableIndex } from './types.ts';

/** Candidate ids per database check (one parameterised array). */
const CHECK_BATCH = 20_000;

export interface FilteredSearchDeps {
  index: SearchableIndex;
  /** Which of `ids` pass `filter` (live ones only): one parameterised repository query. */
  filterAmong: (ids: readonly number[], filter: ImageFilter) => Promise<number[]>;
}

export interface FilteredSearchOptions {
  /** The first round probes `max(firstProbe * k, minProbe)` candidates. @default 2 */
  firstProbe?: number;
  /** @default 64 */
  minProbe?: number;
  /**
   * Each further round probes enough for `k` at the pass rate seen so far, times this margin,
   * and at least twice as many as the round before. @default 1.25
   */
  margin?: number;
}

/**
 * The best `k` hits that pass `filter`, best first. The rounds depend only on `k`, the index's
 * contents and which ids pass, so the same query over the same contents gives the same hits (paging
 * relies on it).
 */
export async function searchFiltered(
  query: Float32Array,
  k: number,
  filter: ImageFilter,
  deps: FilteredSearchDeps,
  options: FilteredSearchOptions = {},
): Promise<ScoredId[]> {
  const { firstProbe = 2, minProbe = 64, margin = 1.25 } = options;
  const size = deps.index.size;
  if (k <= 0 || size === 0) return [];
  // Verdicts of ids already asked about, so each candidate crosses to the database once.
  const passes = new Map<number, boolean>();
  let probe = Math.min(size, Math.max(Math.ceil(firstProbe * k), minProbe));
  // Bound: the probe at least doubles each round and stops once it covers the index.
  const maxRounds = 2 + Math.ceil(Math.log2(Math.max(2, size)));
  for (let round = 0; round < maxRounds; round++) {
    const hits = deps.index.search(query, probe, { ef: probe });
    const unknown = hits.filter((h) => !passes.has(h.id)).map((h) => h.id);
    // Chunked: a late round over a large index can probe more ids than one query may carry.
    for (let start = 0; start < unknown.length; start += CHECK_BATCH) {
      const chunk = unknown.slice(start, start + CHECK_BATCH);
      const allowed = new Set(await deps.filterAmong(chunk, filter));
      for (const id of chunk) passes.set(id, allowed.has(id));
    }
    const kept = hits.filter((h) => passes.get(h.id));
    if (kept.length >= k || probe >= size) return kept.slice(0, k);
    // Aim at the pass rate seen so far rather than a fixed factor: a 10% filter would otherwise
    // take three rounds (2k, 8k, 32k candidates) where two (2k, ~12k) suffice.
    const aim = Math.ceil((margin * k * hits.length) / Math.max(1, kept.length));
    probe = Math.min(size, Math.max(2 * probe, aim));
  }
  // Unreachable: the last round's probe covers the index.
  invariant(false, `filtered search still short of ${k} hits after ${maxRounds} rounds`);
  return [];
}
