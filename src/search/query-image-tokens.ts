/**
 * Query images by handle: an uploaded image is decoded and embedded once, and its vector kept here
 * under a random token, so the next pages of its search send a token, not the image again.
 * In memory on purpose: a token is a convenience for paging, not stored data. After a restart, on
 * another replica, or once evicted, the token is unknown and the client sends the image again.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';

export interface QueryImageTokenOptions {
  /** Tokens kept; the least recently used goes first. @default 512 */
  max?: number;
  /** How long a token lives after its last use. @default 3_600_000 (one hour) */
  ttlMs?: number;
  /** Injected clock for tests. @default Date.now */
  now?: () => number;
}

interface Entry {
  vector: Float32Array;
  imageId: number | undefined;
  expires: number;
}

export class QueryImageTokens {
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor({ max = 512, ttlMs = 3_600_000, now = Date.now }: QueryImageTokenOptions = {}) {
    this.max = max;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** Keeps a vector; returns its new token (unguessable: it names someone's uploaded image). */
  put(vector: Float32Array, imageId?: number): string {
    const token = randomBytes(18).toString('base64url');
    this.entries.set(token, { vector, imageId, expires: this.now() + this.ttlMs });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return token;
  }

  /** The vector for a token; NOT_FOUND, saying what to do, once it expired or was never issued. */
  get(token: string): { vector: Float32Array; imageId?: number } {
    const entry = this.entries.get(token);
    if (!entry || entry.expires <= this.now()) {
      this.entries.delete(token);
      throw new AppError(
        'NOT_FOUND',
        'The query image token is unknown or expired: send the image again (base64) for a new one',
      );
    }
    // Most recently used last, so eviction takes the oldest unused.
    this.entries.delete(token);
    entry.expires = this.now() + this.ttlMs;
    this.entries.set(token, entry);
    return entry.imageId === undefined
      ? { vector: entry.vector }
      : { vector: entry.vector, imageId: entry.imageId };
  }

  get size(): number {
    return this.entries.size;
  }
}
