import { describeError, isAppError, type ErrorCode } from '../errors.ts';
import type { PixelTensor } from '../models/types.ts';

/** What a source item carries once read, hashed and decoded. Raw bytes are dropped after decoding. */
export interface Decoded {
  key: string;
  uri: string;
  captions: string[];
  metadata: Record<string, unknown>;
  sha256: string;
  pixels: PixelTensor;
}

/** An item that already failed; it travels on so its reason is stored in the batch's transaction. */
export interface Failed {
  key: string;
  failed: string;
  /** Stable code for grouping in the summary (the AppError's, or INTERNAL for anything else). */
  code: ErrorCode;
}

/**
 * A decoded item whose content is already stored. Its captions still count: they are attached to
 * the stored image (those it lacks). A repeat within one batch is not a `Duplicate`: it stays a
 * full item, so it can be stored on its own when its first copy fails.
 */
export interface Duplicate {
  key: string;
  sha256: string;
  /** The stored image's id. */
  duplicateOf: number;
  captions: string[];
  /** The captions' vectors, once embedded. */
  captionVectors?: Float32Array[];
}

export interface Embedded extends Decoded {
  imageVector: Float32Array;
  captionVectors: Float32Array[];
}

export type Stage<T> = T | Failed | Duplicate;

export const isFailed = (v: object): v is Failed => 'failed' in v;
export const isDuplicate = (v: object): v is Duplicate => 'duplicateOf' in v;
export const isLive = <T extends object>(v: T | Failed | Duplicate): v is T =>
  !isFailed(v) && !isDuplicate(v);

export type ItemOutcome =
  | { key: string; status: 'indexed'; imageId: number; captionIds: number[] }
  /** `captionIds`: captions this copy brought that the stored image lacked, now attached to it. */
  | { key: string; status: 'duplicate'; imageId: number; captionIds: number[] }
  | { key: string; status: 'failed'; error: string; code: ErrorCode };

/** An item's problem as a value, with the AppError code (or INTERNAL) for the summary. */
export function failure(key: string, error: unknown): Failed {
  return { key, failed: describeError(error), code: isAppError(error) ? error.code : 'INTERNAL' };
}
