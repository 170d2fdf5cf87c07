/**
 * Filtered nearest neighbours over an index that cannot evaluate the filter itself, the way
 * pgvector 0.8's iterative index scans do it: ask the graph for the `probe` nearest, ask the
 * database which of them pass the filter, and grow `probe` (and the beam width with it) until `k`
 * pass or the probe covers the whole index.
 *
 * This replaces loading every matching id into a Set (up to 100k per query, and silently only the
 * 100k lowest ids beyond that). The database is asked only about candidates, one query per round.
 * The function has the shape of a filter-taking vector seam, `(query, k, filter) -> hits`, so an
 * async VectorIndex that takes the ImageFilter (the planned pgvector backend pushes it into SQL)
 * can use it as the HNSW backend's implementation.
 */
import { AppError, invariant } from '../errors.ts';
import type { ImageFilter } from '../store/image-filter.ts';
import type { ScoredId, SearchableIndex } from './types.ts';

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
  /** Each further round probes this many times more. @default 4 */
  growth?: number;
}

/**
 * The best `k` hits that pass `filter`, best first. The rounds depend only on `k`, the index's
 * size and which ids pass, so the same query over the same contents gives the same hits (paging
 * relies on it).
 */
export async function searchFiltered(
  query: Float32Array,
  k: number,
  filter: ImageFilter,
  deps: FilteredSearchDeps,
  options: FilteredSearchOptions = {},
): Promise<ScoredId[]> {
  const { firstProbe = 2, minProbe = 64, growth = 4 } = options;
  if (!(growth > 1)) throw new AppError('INVALID_INPUT', `growth must be > 1, got ${growth}`);
  const size = deps.index.size;
  if (k <= 0 || size === 0) return [];
  // Verdicts of ids already asked about, so each candidate crosses to the database once.
  const passes = new Map<number, boolean>();
  let probe = Math.min(size, Math.max(Math.ceil(firstProbe * k), minProbe));
  // Bound: probe grows by `growth` each round and stops once it covers the index.
  const maxRounds = 2 + Math.ceil(Math.log(Math.max(2, size)) / Math.log(growth));
  for (let round = 0; round < maxRounds; round++) {
    const hits = deps.index.search(query, probe, { ef: probe });
    const unknown = hits.filter((h) => !passes.has(h.id)).map((h) => h.id);
    const allowed = new Set(await deps.filterAmong(unknown, filter));
    for (const id of unknown) passes.set(id, allowed.has(id));
    const kept = hits.filter((h) => passes.get(h.id));
    if (kept.length >= k || probe >= size) return kept.slice(0, k);
    probe = Math.min(size, probe * growth);
  }
  // Unreachable: the last round's probe covers the index.
  invariant(false, `filtered search still short of ${k} hits after ${maxRounds} rounds`);
  return [];
}
