/**
 * The search engine shared by the GraphQL API and the CLIs. One search reads top to bottom:
 * encode the query -> retrieve neighbours (+ filter) -> rerank (hybrid, collapse, minScore)
 * -> cut the page after the cursor -> hydrate.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_EXACT_SEARCH_THRESHOLD, type Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { CaptionsRepository } from '../store/captions.repository.ts';
import type { ImageFilter } from '../store/image-filter.ts';
import type { ImagesRepository } from '../store/images.repository.ts';
import type { VectorsRepository } from '../store/vectors.repository.ts';
import { afterCursor, clampCosine, decodeCursor, encodeCursor, hashQuery } from './cursor.ts';
import { ClassifierService, type ClassifierServiceDeps } from './classifier.ts';
import { embedImage, encodeQuery, type DecodeImage, type QueryEncoderDeps } from './encode-query.ts';
import { QueryImageTokens, type QueryImageTokenOptions } from './query-image-tokens.ts';
import { QueryBatcher } from './query-batcher.ts';
import { ImageNodeCache } from './hydrate-cache.ts';
import { hydrateCaptions, hydrateImages, type HydrateDeps } from './hydrate.ts';
import { rankWindow } from './rank.ts';
import type { VectorSearch } from '../store/vector/types.ts';
import type { Strategy } from './retrieve.ts';
import type {
  CaptionNode,
  ComposedQuerySpec,
  Edge,
  ImageNode,
  ImagePage,
  ImageQueryInput,
  IndexInfoModel,
  MixedPage,
  Page,
  QueryEmbedder,
  SearchRequest,
  Target,
} from './types.ts';

export interface EngineDeps {
  embedder: QueryEmbedder;
  /** The vector backend's search per kind: HNSW (`hnswSearches`) or pgvector. */
  indexes: Readonly<Record<Target, VectorSearch>>;
  images: ImagesRepository;
  captions: CaptionsRepository;
  vectors: VectorsRepository;
  decodeImage: DecodeImage;
  config: Pick<Config, 'limits' | 'remoteImageHosts' | 'localImageRoots' | 'hnsw'> &
    Partial<Pick<Config, 'queryBatch' | 'hydrateCache' | 'search'>>;
  /** What `indexInfo` reports about the models. */
  models: {
    profile: string;
    textEncoder: string;
    imageEncoder: string;
    projection: string;
    projectionTrained: boolean;
    /** Where each encoder's ONNX session runs (`cpu`, `cuda`, ...), when known. */
    textEncoderProvider?: string;
    imageEncoderProvider?: string;
  };
  /** Trained classifiers and zero-shot labels (search/classifier.ts); absent: classify is unavailable. */
  classifiers?: Omit<ClassifierServiceDeps, 'query'>;
  /** Called per encoder call made for a query (for metrics). */
  onEncode?: (kind: 'text' | 'image', batchSize: number) => void;
}

export interface EngineOptions {
  /** Filtered searches over at most this many allowed ids run exactly. @default config.search.exactThreshold */
  exactThreshold?: number;
  /**
   * How deep every search ranks, whatever the page size: paging cuts its pages from this one window
   * and ends at its last item. @default 1000
   */
  maxWindow?: number;
  /** How many uploaded query images are kept for paging by token, and for how long. */
  queryImageTokens?: QueryImageTokenOptions;
  /** Told which retrieval path each search took (metrics, tests). */
  onRetrieve?: (info: { kind: Target; strategy: Strategy; k: number }) => void;
}

/** Options shared by every search call. */
export type SearchOptions = Omit<SearchRequest, 'target' | 'query'>;

export class SearchEngine {
  readonly exactThreshold: number;
  readonly maxWindow: number;
  readonly onRetrieve: EngineOptions['onRetrieve'];
  readonly classifier: ClassifierService | undefined;
  private readonly encoderDeps: QueryEncoderDeps;
  private readonly hydrateDeps: HydrateDeps;

  constructor(
    readonly deps: EngineDeps,
    options: EngineOptions = {},
  ) {
    this.exactThreshold =
      options.exactThreshold ?? deps.config.search?.exactThreshold ?? DEFAULT_EXACT_SEARCH_THRESHOLD;
    this.maxWindow = options.maxWindow ?? 1000;
    this.onRetrieve = options.onRetrieve;
    this.encoderDeps = {
      embedder: deps.embedder,
      images: deps.images,
      vectors: deps.vectors,
      decodeImage: deps.decodeImage,
      limits: deps.config.limits,
      remoteImageHosts: deps.config.remoteImageHosts,
      localImageRoots: deps.config.localImageRoots,
      tokens: new QueryImageTokens(options.queryImageTokens),
      ...(deps.onEncode ? { onEncode: deps.onEncode } : {}),
      ...(deps.config.queryBatch && deps.config.queryBatch.windowMs > 0
        ? { batcher: new QueryBatcher(deps.embedder, deps.config.queryBatch, deps.onEncode) }
        : {}),
    };
    const cache = deps.config.hydrateCache;
    this.hydrateDeps = {
      images: deps.images,
      captions: deps.captions,
      imageCache: cache && cache.maxEntries > 0 ? new ImageNodeCache(cache) : undefined,
    };
    this.classifier =
      deps.classifiers && new ClassifierService({ ...deps.classifiers, query: this.encoderDeps });
  }

  get limits(): Config['limits'] {
    return this.deps.config.limits;
  }

  /** Text -> image. */
  searchImages(text: string, options: SearchOptions): Promise<ImagePage> {
    return this.search({ ...options, target: 'image', query: { text } }) as Promise<ImagePage>;
  }

  /** Image -> text. */
  searchCaptions(image: ImageQueryInput, options: SearchOptions): Promise<Page<CaptionNode>> {
    return this.search({ ...options, target: 'caption', query: { image } }) as Promise<Page<CaptionNode>>;
  }

  /** Image -> image; an image given by id is left out of its own results. */
  similarImages(image: ImageQueryInput, options: SearchOptions): Promise<ImagePage> {
    return this.search({
      ...options,
      target: 'image',
      query: { image },
      excludeQueryImage: true,
    }) as Promise<ImagePage>;
  }

  /**
   * Embeds a query image once and returns a token for it: searches and their next pages then pass
   * `{ token }` instead of sending the image again.
   */
  async imageToken(image: ImageQueryInput): Promise<string> {
    const { vector, imageId } = await embedImage(image, this.encoderDeps);
    return this.encoderDeps.tokens.put(vector, imageId);
  }

  async search(request: SearchRequest): Promise<MixedPage> {
    const first = this.checkFirst(request.first);
    this.checkOptions(request);
    const { signal } = request;
    const queryHash = hashQuery({
      ...request,
      signal: undefined,
      first: undefined,
      after: undefined,
      query: describeQuery(request.query),
    });
    const cursor = request.after ? decodeCursor(request.after, queryHash) : undefined;

    // Encode
    const { vector, queryImageId } = await encodeQuery(
      request.query,
      signal ? { ...this.encoderDeps, signal } : this.encoderDeps,
    );
    signal?.throwIfAborted();
    const exclude = request.excludeQueryImage && request.target === 'image' ? queryImageId : undefined;

    // Retrieve + rerank: the whole window, the same for every page of this query
    const ranked = await rankWindow(vector, request, this.maxWindow, exclude, {
      retrieve: (kind, query, k, filter) =>
        this.deps.indexes[kind].knn(query, k, { filter, exactThreshold: this.exactThreshold }),
      captions: this.deps.captions,
      vectors: this.deps.vectors,
      fingerprint: this.deps.embedder.fingerprint,
      onRetrieve: this.onRetrieve,
    });

    signal?.throwIfAborted();

    // Page: strictly after the cursor's (score, id); the next page exists while the window has more
    const rest = afterCursor(ranked, cursor);
    const pageItems = rest.slice(0, first);
    const base = cursor?.offset ?? 0;

    // Hydrate
    const nodes =
      request.target === 'image'
        ? await hydrateImages(
            pageItems.map((r) => r.id),
            this.hydrateDeps,
          )
        : await hydrateCaptions(
            pageItems.map((r) => r.id),
            this.hydrateDeps,
          );
    const edges: Edge<ImageNode | CaptionNode>[] = [];
    pageItems.forEach((item, i) => {
      const node = nodes.get(item.id);
      const edgeCursor = encodeCursor({ q: queryHash, score: item.score, id: item.id, offset: base + i + 1 });
      if (node)
        edges.push({
          cursor: edgeCursor,
          score: request.hybrid ? item.score : clampCosine(item.score),
          node,
        });
    });
    const last = pageItems.at(-1);
    const endCursor = last
      ? encodeCursor({ q: queryHash, score: last.score, id: last.id, offset: base + pageItems.length })
      : (request.after ?? null);
    return { edges, pageInfo: { hasNextPage: rest.length > first, endCursor } };
  }

  checkFirst(first: number): number {
    const max = this.deps.config.limits.maxFirst;
    if (!Number.isInteger(first) || first < 1)
      throw new AppError('INVALID_INPUT', '`first` must be a positive integer');
    if (first > max) throw new AppError('LIMIT_EXCEEDED', `\`first\` is ${first}; the limit is ${max}`);
    return first;
  }

  /** Full-text matching costs per character (a 400k-character match stalled PGlite for minutes). */
  private checkFilter(filter: ImageFilter | null | undefined): void {
    const max = this.deps.config.limits.maxQueryText;
    if (filter?.captionMatch !== undefined && filter.captionMatch.length > max) {
      throw new AppError('LIMIT_EXCEEDED', `filter.captionMatch is longer than ${max} characters`);
    }
  }

  private checkOptions(request: SearchRequest): void {
    if (request.minScore !== undefined && request.minScore !== null && !Number.isFinite(request.minScore)) {
      throw new AppError('INVALID_INPUT', 'minScore must be a finite number');
    }
    const t = request.collapseThreshold;
    if (t !== undefined && t !== null && !(t > 0 && t <= 1)) {
      throw new AppError('INVALID_INPUT', 'duplicateThreshold must be in (0, 1]');
    }
    const h = request.hybrid;
    if (
      h?.keywordWeight !== undefined &&
      h.keywordWeight !== null &&
      !(h.keywordWeight >= 0 && h.keywordWeight <= 100)
    ) {
      throw new AppError('INVALID_INPUT', 'hybrid.keywordWeight must be in 0..100');
    }
    this.checkFilter(request.filter);
    if (h?.keywords && h.keywords.length > this.deps.config.limits.maxQueryText) {
      throw new AppError(
        'LIMIT_EXCEEDED',
        `hybrid.keywords is longer than ${this.deps.config.limits.maxQueryText} characters`,
      );
    }
  }

  async getImage(id: number): Promise<ImageNode | undefined> {
    return (await hydrateImages([id], this.hydrateDeps)).get(id);
  }

  /**
   * Tells the engine these images changed (captions added, deleted, re-added with new metadata):
   * their hydrated rows are read again. Called by this process's writer after each commit.
   */
  forgetImages(ids: readonly number[]): void {
    this.hydrateDeps.imageCache?.forget(ids);
  }

  /** Live images by id, with their captions, in one query (absent ids: deleted or unknown). */
  getImages(ids: readonly number[]): Promise<Map<number, ImageNode>> {
    return hydrateImages(ids, this.hydrateDeps);
  }

  /** Live images in id order; the cursor is the last id seen. */
  async listImages(
    filter: ImageFilter | null | undefined,
    first: number,
    after?: string | null,
  ): Promise<ImagePage> {
    this.checkFirst(first);
    this.checkFilter(filter);
    let afterId: number | undefined;
    if (after) {
      const match = /^i:(\d+)$/.exec(Buffer.from(after, 'base64url').toString('utf8'));
      // A forged id beyond 2^53 (or beyond bigint) would fail in the database as an internal error.
      if (!match || !Number.isSafeInteger(Number(match[1])))
        throw new AppError('INVALID_INPUT', 'Malformed cursor: pass an endCursor returned by images()');
      afterId = Number(match[1]);
    }
    const { rows, hasNextPage } = await this.deps.images.list(filter ?? undefined, {
      first,
      ...(afterId === undefined ? {} : { afterId }),
    });
    const captions = await this.deps.captions.getByImageIds(rows.map((r) => r.id));
    const edges = rows.map((r) => ({
      cursor: Buffer.from(`i:${r.id}`).toString('base64url'),
      score: 0,
      node: { ...r, captions: captions.get(r.id) ?? [] },
    }));
    return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? after ?? null } };
  }

  async indexInfo(): Promise<IndexInfoModel> {
    const fp = this.deps.embedder.fingerprint;
    const { hnsw, limits } = this.deps.config;
    const [images, captions, classifiers] = await Promise.all([
      this.deps.images.countLive(),
      this.deps.captions.countLive(),
      this.classifier?.list() ?? [],
    ]);
    const index = async (kind: Target) => {
      const vectors = this.deps.indexes[kind];
      const isHnsw = vectors.implementation === 'hnsw' || vectors.implementation === 'pgvector';
      return {
        kind,
        count: await vectors.count(),
        dims: this.deps.embedder.dims,
        fingerprint: fp,
        type: vectors.implementation,
        // The graph's own M and efConstruction (a loaded graph keeps what it was built with, from
        // its manifest, whatever the config says now); ef is the search-time setting in force.
        m: isHnsw ? (vectors.params?.m ?? hnsw.m) : null,
        efConstruction: isHnsw ? (vectors.params?.efConstruction ?? hnsw.efConstruction) : null,
        ef: isHnsw ? (vectors.params?.ef ?? hnsw.ef) : null,
      };
    };
    return {
      images,
      captions,
      ...this.deps.models,
      textEncoderProvider: this.deps.models.textEncoderProvider ?? null,
      imageEncoderProvider: this.deps.models.imageEncoderProvider ?? null,
      modelFingerprint: fp,
      dims: this.deps.embedder.dims,
      indexes: await Promise.all([index('image'), index('caption')]),
      classifiers,
      limits: {
        maxFirst: limits.maxFirst,
        maxQueryText: limits.maxQueryText,
        maxImageBytes: limits.maxImageBytes,
        maxImagePixels: limits.maxImagePixels,
        maxBodyBytes: limits.maxBodyBytes,
        requestTimeoutMs: limits.requestTimeoutMs,
        maxQueryDepth: limits.maxQueryDepth,
        maxQueryComplexity: limits.maxQueryComplexity,
        maxPagingWindow: this.maxWindow,
      },
    };
  }
}

/** What identifies a query for cursors: image bytes by hash, not by their (large) base64. */
function describeQuery(query: ComposedQuerySpec): unknown {
  const image = query.image;
  return {
    ...query,
    image: image && {
      ...image,
      base64: image.base64 && createHash('sha256').update(image.base64).digest('hex'),
    },
  };
}
