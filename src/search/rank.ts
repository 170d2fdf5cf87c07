/**
 * Stages 2 and 3 over the whole paging window: retrieve -> hybrid fusion -> minScore -> collapse.
 *
 * Every page ranks the same window, at a depth fixed by the engine's `maxWindow`: the ranking is a
 * function of the query, the filter and the index contents only, never of the page size or of how
 * deep the client already is. Searching deeper for later pages (the old way) changed HNSW's
 * candidate list from page to page, so pages skipped items and stopped early (issue 9, item 2).
 */
import { AppError } from '../errors.ts';
import { checkText } from './encode-query.ts';
import type { CaptionsRepository } from '../store/captions.repository.ts';
import type { VectorsRepository } from '../store/vectors.repository.ts';
import type { ImageFilter } from '../store/image-filter.ts';
import { exactTopK, type Strategy } from './retrieve.ts';
import { collapseDuplicates, fuseScores } from './rerank.ts';
import type { ScoredId, SearchRequest, Target } from './types.ts';

export interface RankDeps {
  /** Nearest neighbours of `kind` passing `filter`: the vector backend's search. */
  retrieve: (
    kind: Target,
    query: Float32Array,
    k: number,
    filter: ImageFilter | null | undefined,
  ) => Promise<{ results: ScoredId[]; strategy: Strategy }>;
  captions: CaptionsRepository;
  vectors: VectorsRepository;
  fingerprint: string;
  onRetrieve?: ((info: { kind: Target; strategy: Strategy; k: number }) => void) | undefined;
}

/**
 * The ranked window (at most `window` items), best first by (score desc, id asc), every score
 * rounded to float32 so cursors and rankings compare in one precision.
 */
export async function rankWindow(
  vector: Float32Array,
  request: SearchRequest,
  window: number,
  exclude: number | undefined,
  deps: RankDeps,
): Promise<ScoredId[]> {
  const kind = request.target;
  const collapse = request.collapseThreshold ?? undefined;
  // Collapsing removes hits, so look twice as deep to still fill the window; one more when the
  // query image is left out. Both depths are fixed per request shape, never per page.
  const depth = (collapse === undefined ? window : 2 * window) + (exclude === undefined ? 0 : 1);
  const { results, strategy } = await deps.retrieve(kind, vector, depth, request.filter);
  deps.onRetrieve?.({ kind, strategy, k: depth });
  let ranked = results.filter((r) => r.id !== exclude);
  if (request.hybrid) ranked = await fuseHybrid(vector, ranked, request, depth, exclude, deps);
  ranked = toFloat32(ranked);
  const minScore = request.minScore;
  if (minScore !== undefined && minScore !== null) {
    const cut = Math.fround(minScore);
    ranked = ranked.filter((r) => r.score >= cut);
  }
  if (collapse !== undefined) {
    ranked = await collapseDuplicates(ranked, collapse, (ids) =>
      deps.vectors.get(kind, deps.fingerprint, ids),
    );
  }
  return ranked.slice(0, window);
}

/**
 * Scores rounded to float32, the precision vectors are stored and hnswlib computes in, so the
 * exact path's float64 sums carry no digits the HNSW path lacks; re-sorted because rounding can
 * make two scores equal, and equal scores rank by id.
 */
function toFloat32(ranked: readonly ScoredId[]): ScoredId[] {
  return ranked
    .map((r) => ({ id: r.id, score: Math.fround(r.score) }))
    .sort((a, b) => b.score - a.score || a.id - b.id);
}

/**
 * Vector hits and keyword matches, each scored by `fuseScores`. The candidates are the vector hits
 * plus the best `depth` keyword matches; a keyword match outside the vector hits gets its cosine
 * from its stored vector, computed as the exact path does. Keyword scores are fetched for every
 * vector hit too, however far down the keyword ranking it sits, so an item's score never depends
 * on which list found it.
 */
async function fuseHybrid(
  vector: Float32Array,
  hits: readonly ScoredId[],
  request: SearchRequest,
  depth: number,
  exclude: number | undefined,
  deps: RankDeps,
): Promise<ScoredId[]> {
  const hybrid = request.hybrid!;
  // Keywords given but blank are refused as such: "needs hybrid.keywords" misled a caller who sent them.
  if (hybrid.keywords !== undefined && hybrid.keywords !== null) {
    checkText(hybrid.keywords, 'hybrid.keywords', Number.POSITIVE_INFINITY);
  }
  const keywords = hybrid.keywords ?? request.query.text;
  if (!keywords || keywords.trim() === '') {
    throw new AppError('INVALID_INPUT', 'Hybrid search needs hybrid.keywords or a query text');
  }
  const kind = request.target;
  const options = { limit: depth, filter: request.filter ?? undefined, among: hits.map((h) => h.id) };
  const rows =
    kind === 'image'
      ? await deps.captions.imageKeywordScores(keywords, options)
      : await deps.captions.keywordScores(keywords, options);
  const keywordScores = new Map(rows.filter((r) => r.id !== exclude).map((r) => [r.id, r.score]));
  const cosines = new Map(hits.map((h) => [h.id, h.score]));
  const missing = [...keywordScores.keys()].filter((id) => !cosines.has(id));
  if (missing.length > 0) {
    const vectors = await deps.vectors.get(kind, deps.fingerprint, missing);
    for (const hit of exactTopK(vector, vectors, missing.length)) cosines.set(hit.id, hit.score);
  }
  return fuseScores(cosines, keywordScores, hybrid.keywordWeight ?? 1);
}
