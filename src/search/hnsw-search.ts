/**
 * The HNSW backend behind the async, filter-taking search seam (`VectorSearch`): the in-process
 * graph (or an exact index) plus the database, which answers the filter. The paths are those of
 * `retrieve`: no filter -> the graph; a small allowed set -> exact over its stored vectors; a broad
 * one -> the graph, candidates checked against the filter in growing rounds.
 */
import type { CaptionsRepository } from '../store/captions.repository.ts';
import type { ImagesRepository } from '../store/images.repository.ts';
import type { VectorSearch } from '../store/vector/types.ts';
import type { VectorsRepository } from '../store/vectors.repository.ts';
import { retrieve, type RetrieveDeps } from './retrieve.ts';
import type { SearchableIndex, Target } from './types.ts';

export function hnswSearch(deps: Omit<RetrieveDeps, 'exactThreshold'>): VectorSearch {
  return {
    implementation: deps.index.implementation,
    ...(deps.index.params ? { params: deps.index.params } : {}),
    count: () => Promise.resolve(deps.index.size),
    knn: (query, k, { filter, exactThreshold }) => retrieve(query, k, filter, { ...deps, exactThreshold }),
  };
}

/** Both kinds over in-process indexes, with the filter answered by the repositories. */
export function hnswSearches(
  indexes: Readonly<Record<Target, SearchableIndex>>,
  repositories: { images: ImagesRepository; captions: CaptionsRepository; vectors: VectorsRepository },
  fingerprint: string,
): Record<Target, VectorSearch> {
  const { images, captions, vectors } = repositories;
  const of = (kind: Target): VectorSearch =>
    hnswSearch({
      kind,
      index: indexes[kind],
      vectors,
      fingerprint,
      filterIds: (filter, limit) =>
        kind === 'image' ? images.filterIds(filter, limit) : captions.filterIds(filter, limit),
      filterAmong: (ids, filter) =>
        kind === 'image' ? images.filterAmong(ids, filter) : captions.filterAmong(ids, filter),
    });
  return { image: of('image'), caption: of('caption') };
}
