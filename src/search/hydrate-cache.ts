/**
 * Hydrated image hits (row + captions) by id, most recently used kept. Under load the same images
 * come back query after query, and each database round trip costs more than the rest of the
 * query (PGlite runs in WebAssembly on the event loop). Entries leave when this process changes
 * the image (`forget`: caption added, deleted, re-added), when they are older than `ttlMs` (other
 * processes sharing a Postgres server change rows this process hears nothing about), or when the
 * cache is full.
 */
import type { ImageNode } from './types.ts';

/** How many hydrated images to keep, and for how long. */
export interface HydrateCacheOptions {
  /** Entries kept; 0 turns the cache off. @default 10000 */
  maxEntries: number;
  /** Age after which an entry is read from the database again, in ms. @default 5000 */
  ttlMs: number;
}

export class ImageNodeCache {
  private readonly entries = new Map<number, { node: ImageNode; at: number }>();
  /** Bumped by every `forget`: a load that began before it must not store what it read. */
  private generation = 0;

  constructor(
    private readonly options: HydrateCacheOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The cached nodes among `ids`, the ids to load, and the generation to hand back to `store`. */
  lookup(ids: readonly number[]): { found: Map<number, ImageNode>; missing: number[]; generation: number } {
    const found = new Map<number, ImageNode>();
    const missing: number[] = [];
    const oldest = this.now() - this.options.ttlMs;
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry && entry.at >= oldest) {
        // Re-inserted: a Map iterates in insertion order, so its first key is the least recently used.
        this.entries.delete(id);
        this.entries.set(id, entry);
        found.set(id, entry.node);
      } else {
        if (entry) this.entries.delete(id);
        missing.push(id);
      }
    }
    return { found, missing, generation: this.generation };
  }

  /** Keeps nodes loaded since `lookup` returned `generation`, unless something was forgotten meanwhile. */
  store(nodes: readonly ImageNode[], generation: number): void {
    if (generation !== this.generation) return;
    const at = this.now();
    for (const node of nodes) {
      this.entries.delete(node.id);
      this.entries.set(node.id, { node, at });
    }
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.options.maxEntries) break;
      this.entries.delete(id);
    }
  }

  /** Drops these images (changed or deleted by this process). */
  forget(ids: readonly number[]): void {
    this.generation++;
    for (const id of ids) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
