/**
 * What every resolver receives: the engine, the mutation writer, per-request loaders and the
 * caller's authorisation. Built once per HTTP request.
 */
import type { Logger } from '../logger.ts';
import type { SearchEngine } from '../search/engine.ts';
import type { ImageNode } from '../search/types.ts';
import type { CaptionRecord } from '../store/captions.repository.ts';
import type { Queryable } from '../store/db.ts';

/** How an API write ends: it rolls back once `signal` aborts; `beforeCommit` runs last in its transaction. */
export interface WriteOptions {
  signal?: AbortSignal;
  /** Set for a mutation sent with an Idempotency-Key: marks the key committed (src/api/idempotency.ts). */
  beforeCommit?: (tx: Queryable) => Promise<void>;
}

/** Mutations go through the same pipeline as the batch indexer (wired in main.ts). */
export interface IndexWriter {
  addImage(input: {
    bytes: Buffer;
    captions: string[];
    metadata: Record<string, unknown>;
    filename?: string;
    options?: WriteOptions;
  }): Promise<{ status: 'indexed' | 'duplicate'; imageId: number; addedCaptions: CaptionRecord[] }>;
  addCaptions(imageId: number, texts: string[], options?: WriteOptions): Promise<CaptionRecord[]>;
  deleteImage(id: number, options?: WriteOptions): Promise<boolean>;
}

export interface ApiContext {
  engine: SearchEngine;
  writer: IndexWriter | undefined;
  logger: Logger;
  /** Aborted when the request times out or its client goes away; pass it to long work. */
  signal: AbortSignal;
  /** Set by the Idempotency-Key plugin before a keyed mutation runs; writes call it before COMMIT. */
  beforeCommit?: WriteOptions['beforeCommit'];
  /** Throws UNAUTHENTICATED / FORBIDDEN unless this request may mutate. */
  requireMutationAccess(): void;
  /** Captions per image id, batched across one request. */
  loadCaptions(imageId: number): Promise<CaptionRecord[]>;
  /** Images by id (undefined: deleted or unknown), batched across one request. */
  loadImage(imageId: number): Promise<ImageNode | undefined>;
  /** Absolute base URL of this server for thumbnail links, e.g. http://127.0.0.1:4000. */
  baseUrl: string;
}
