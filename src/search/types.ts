import type { ClassifierInfo } from './classifier.ts';
/**
 * The engine's vocabulary: what a search asks for, what it returns, and the narrow seams it needs
 * (an embedder and two vector indexes). GraphQL mappers point at the node and page types here.
 */
import type { Embedder } from '../models/types.ts';
import type { CaptionRecord } from '../store/captions.repository.ts';
import type { ImageFilter } from '../store/image-filter.ts';
import type { ImageRecord } from '../store/images.repository.ts';
import type { VectorIndex } from '../store/vector/types.ts';

export type { ImageFilter };
export type Target = 'image' | 'caption';

/** What the engine needs from the models layer: `createEmbedder(...)`. Rows are L2-normalised. */
export type QueryEmbedder = Embedder;

export interface ScoredId {
  id: number;
  score: number;
}

/** What the engine needs from a vector index (`HnswIndex`, `ExactIndex`). */
export type SearchableIndex = Pick<VectorIndex, 'search' | 'size' | 'implementation' | 'params'>;

/** An image given to a query: exactly one field is set. */
export interface ImageQueryInput {
  id?: number;
  base64?: string;
  url?: string;
  path?: string;
  /** A token from `SearchEngine.imageToken`: the vector of an image embedded earlier. */
  token?: string;
}

export interface ComposedQuerySpec {
  text?: string;
  /** @default 1 */
  textWeight?: number;
  image?: ImageQueryInput;
  /** @default 1 */
  imageWeight?: number;
  negativeText?: string;
  /** @default 0.5 */
  negativeWeight?: number;
}

/**
 * Hybrid search scores an item cosine + keywordWeight * keywordScore: its cosine similarity to the
 * query plus a boost when its captions (an image: its best caption) match the keywords. The keyword
 * score is Postgres cover density normalised to [0, 1) (0.5 for one tight match of every keyword;
 * see captions.repository.ts), 0 for a non-match, so matches rise and the rest keep their vector
 * order. Both terms depend only on the item and the query, so pages stay consistent under writes.
 */
export interface HybridSpec {
  /** Keyword query; defaults to the query text. */
  keywords?: string;
  /**
   * Weight of the keyword score against the cosine (weight 1). At 1, one match adds 0.5, more
   * than the cosine spread of most queries: matches come first. @default 1
   */
  keywordWeight?: number;
}

export interface SearchRequest {
  target: Target;
  query: ComposedQuerySpec;
  first: number;
  after?: string | null;
  filter?: ImageFilter | null;
  minScore?: number | null;
  hybrid?: HybridSpec | null;
  /** Cosine threshold for near-duplicate collapsing; unset = no collapsing. */
  collapseThreshold?: number | null;
  /** Leave the query image out of image -> image results. */
  excludeQueryImage?: boolean;
  /** Stops the search between its stages (the request timed out or its client left). */
  signal?: AbortSignal;
}

/** An image hit, hydrated. `captions` is filled when the hydration loaded them. */
export type ImageNode = ImageRecord & { captions?: CaptionRecord[] };
/** A caption hit, hydrated with its (live) image. */
export type CaptionNode = CaptionRecord & { image?: ImageRecord };

export interface Edge<N> {
  cursor: string;
  score: number;
  node: N;
}

export interface Page<N> {
  edges: Edge<N>[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export type ImagePage = Page<ImageNode>;
export type CaptionPage = Page<CaptionNode>;
export type MixedPage = Page<ImageNode | CaptionNode>;

export interface VectorIndexInfoModel {
  kind: Target;
  count: number;
  dims: number;
  fingerprint: string;
  type: 'hnsw' | 'exact' | 'pgvector';
  m: number | null;
  efConstruction: number | null;
  ef: number | null;
}

export interface IndexInfoModel {
  images: number;
  captions: number;
  profile: string;
  modelFingerprint: string;
  textEncoder: string;
  imageEncoder: string;
  projection: string;
  projectionTrained: boolean;
  /** Where each encoder's ONNX session runs (`cpu`, `cuda`, ...); null when unknown. */
  textEncoderProvider: string | null;
  imageEncoderProvider: string | null;
  dims: number;
  indexes: VectorIndexInfoModel[];
  classifiers: ClassifierInfo[];
  limits: {
    maxFirst: number;
    maxQueryText: number;
    maxImageBytes: number;
    maxImagePixels: number;
    maxBodyBytes: number;
    requestTimeoutMs: number;
    maxQueryDepth: number;
    maxQueryComplexity: number;
    maxPagingWindow: number;
  };
}
