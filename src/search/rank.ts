/**
 * Stages 2 and 3 over the whole paging window: retrieve -> hybrid fusion -> minScore -> collapse.
 *
 * Every page ranks the same window, at a depth fixed by the engine's `maxWindow`: the ranking is a
 * function of the query, the filter and the index contents only, never of the page size or of how
 * deep the client already is. Searching deeper for later pages (the old way) changed HNSW's
 * candidate list from page to page, so pages skipped items and stopped early (issue 9, item 2).
 */
import { AppError } from '../errors.ts';
import type { CaptionsRepository } from '../store/captions.repository.ts';
import type { ImageFilter } from '../store/image-filter.ts';
import type { VectorsRepository } from '../store/vectors.repository.ts';
import { retrieve, type RetrieveDeps, type Strategy } from './retrieve.ts';
import { collapseDuplicates, fuseRrf } from './rerank.ts';
import type { ScoredId, SearchRequest, Target } from './types.ts';

export interface RankDeps {
  retrieveDeps: (kind: Target) => RetrieveDeps;
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
  const { results, strategy } = await retrieve(vector, depth, request.filter, deps.retrieveDeps(kind));
  deps.onRetrieve?.({ kind, strategy, k: depth });
  let ranked = results.filter((r) => r.id !== exclude);
  if (request.hybrid) {
    const keywords = request.hybrid.keywords ?? request.query.text;
    if (!keywords || keywords.trim() === '') {
      throw new AppError('INVALID_INPUT', 'Hybrid search needs hybrid.keywords or a query text');
    }
    // The keyword list is as deep as the vector list: a shallower one (it was 200) made fused
    // scores change with depth and left items past it unreachable.
    const keywordIds = (await keywordRanking(kind, keywords, depth, request.filter, deps.captions)).filter(
      (id) => id !== exclude,
    );
    ranked = fuseRrf(
      [
        { ids: ranked.map((r) => r.id), weight: 1 },
        { ids: keywordIds, weight: request.hybrid.keywordWeight ?? 1 },
      ],
      request.hybrid.rrfK ?? 60,
    );
  }
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

/** Full-text ranking of captions; for images, each image ranks by its best caption. */
async function keywordRanking(
  kind: Target,
  keywords: string,
  limit: number,
  filter: ImageFilter | null | undefined,
  captions: CaptionsRepository,
): Promise<number[]> {
  const hits = await captions.searchFullText(
    keywords,
    limit * (kind === 'image' ? 3 : 1),
    filter ?? undefined,
  );
  if (kind === 'caption') return hits.map((h) => h.id);
  const rows = await captions.getByIds(hits.map((h) => h.id));
  const imageOf = new Map(rows.map((c) => [c.id, c.imageId]));
  const ids: number[] = [];
  const seen = new Set<number>();
  for (const hit of hits) {
    const imageId = imageOf.get(hit.id);
    if (imageId !== undefined && !seen.has(imageId)) {
      seen.add(imageId);
      ids.push(imageId);
    }
  }
  return ids.slice(0, limit);
}
