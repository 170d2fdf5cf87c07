export type {
  IdFilter,
  IndexSnapshot,
  KnnOptions,
  SearchHit,
  SearchOptions,
  SearchStrategy,
  VectorIndex,
  VectorSearch,
} from './types.ts';
export { ExactIndex } from './exact-index.ts';
export { HnswIndex, DEFAULT_HNSW_PARAMS, type HnswOptions, type HnswParams } from './hnsw-index.ts';
export { openIndexes, type IndexSet, type OpenIndexesOptions } from './index-set.ts';
export type { ReconcileReport } from './reconcile.ts';
export { fingerprintDir, readManifest, type IndexManifest } from './manifest.ts';
export type { CheckpointStatus } from './checkpoint-status.ts';
