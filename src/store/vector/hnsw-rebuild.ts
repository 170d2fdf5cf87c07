import { setImmediate as nextTurn } from 'node:timers/promises';
import type hnswlib from 'hnswlib-node';
import { AppError } from '../../errors.ts';
import type { SearchHit } from './types.ts';

/** The graph being replaced. It keeps answering searches and taking every write until the swap. */
export interface RebuildSource {
  /** The vector of a live id, as hnswlib holds it. */
  point(id: number): number[];
  /** Whether `id` is live in the source now (not deleted since the rebuild began). */
  has(id: number): boolean;
}

/** What replaces the source's graph in the swap. */
export interface RebuiltGraph {
  native: hnswlib.HierarchicalNSW;
  labels: Set<number>;
  deleted: Set<number>;
}

/**
 * Builds a replacement graph from the source's live vectors a slice at a time, yielding to the
 * event loop between slices, so one request never waits for a whole rebuild (re-inserting 50k
 * vectors of 256 dims is tens of seconds of CPU).
 *
 * Writes keep going to the source, which stays the truth until the swap; each one also records
 * its id here (`touched`). Once the snapshot of live ids is in, the recorded ids are applied in
 * slices too (inserted with the source's current vector, or marked deleted), and the swap happens
 * in the same synchronous turn that finds nothing left to apply, so no write made in between can
 * be missed and no deleted id comes back.
 */
export class GraphRebuild {
  /** Ids written since the rebuild began and not yet applied to the new graph. */
  private readonly queue = new Set<number>();
  /** Ids added since the rebuild began (see `mergeRecent`). */
  private readonly added = new Set<number>();
  private readonly labels = new Set<number>();
  private readonly deleted = new Set<number>();
  private cancelled = false;

  constructor(
    private readonly source: RebuildSource,
    private readonly next: hnswlib.HierarchicalNSW,
    private readonly live: readonly number[],
    private readonly slice: number,
  ) {}

  /** Records a write made to the source while the rebuild runs. */
  touched(id: number, added: boolean): void {
    this.queue.add(id);
    if (added) this.added.add(id);
    else this.added.delete(id);
  }

  /**
   * Adds to a search's `hits` (from the source) the ids added since the rebuild began that it
   * missed and `accept` allows, scored exactly. The mostly deleted source links a new point to
   * few or no others, so its graph walk may not reach it; this keeps every live item findable
   * while the rebuild runs. Costs one dot product per id added meanwhile.
   */
  mergeRecent(hits: SearchHit[], query: readonly number[], accept: (id: number) => boolean): void {
    if (this.added.size === 0) return;
    const found = new Set(hits.map((h) => h.id));
    for (const id of this.added) {
      if (found.has(id) || !this.source.has(id) || !accept(id)) continue;
      const v = this.source.point(id);
      let dot = 0;
      for (let d = 0; d < v.length; d++) dot += (query[d] as number) * (v[d] as number);
      // In hnswlib's precision: it scores in float32, as the distance 1 - dot.
      hits.push({ id, score: 1 - Math.fround(1 - dot) });
    }
  }

  /** Stops at the next slice boundary; the source stays in force and `run` resolves false. */
  cancel(): void {
    this.cancelled = true;
  }

  /**
   * Runs the rebuild; `swap` is called synchronously, in the turn that applied the last write.
   * Resolves true once swapped, false when cancelled.
   */
  async run(swap: (graph: RebuiltGraph) => void): Promise<boolean> {
    // Phase 1, the snapshot: at most `slice` inserts per turn, ceil(live / slice) turns.
    for (let i = 0; i < this.live.length;) {
      await nextTurn();
      if (this.cancelled) return false;
      for (const end = Math.min(i + this.slice, this.live.length); i < end; i++) {
        const id = this.live[i] as number;
        // A written id is applied in phase 2 with its state at that time.
        if (!this.queue.has(id) && this.source.has(id)) this.insert(id);
      }
    }
    // Phase 2, the writes made meanwhile. Only writes refill the queue and each turn applies up to
    // `slice` of them, so it drains unless writers outpace it for as many turns as the snapshot
    // took; then the rebuild gives up rather than chase them forever (the source stays valid).
    const maxTurns = Math.ceil(this.live.length / this.slice) + 16;
    for (let turn = 0; this.queue.size > 0; turn++) {
      await nextTurn();
      if (this.cancelled) return false;
      if (turn >= maxTurns) {
        throw new AppError(
          'TIMEOUT',
          `Graph rebuild abandoned: writes kept ${this.queue.size} ids ahead of it for ${turn} turns`,
        );
      }
      let n = 0;
      for (const id of this.queue) {
        if (n++ === this.slice) break;
        // Deleting the visited entry while iterating a Set is well defined: the rest still follow.
        this.queue.delete(id);
        this.apply(id);
      }
    }
    if (this.cancelled) return false;
    swap({ native: this.next, labels: this.labels, deleted: this.deleted });
    return true;
  }

  /** Brings `id` in the new graph to its state in the source. */
  private apply(id: number): void {
    if (this.source.has(id)) this.insert(id);
    else if (this.labels.has(id) && !this.deleted.has(id)) {
      this.next.markDelete(id);
      this.deleted.add(id);
    }
  }

  private insert(id: number): void {
    const capacity = this.next.getMaxElements();
    if (!this.labels.has(id) && this.next.getCurrentCount() >= capacity) this.next.resizeIndex(2 * capacity);
    // Re-adding a label replaces its vector and unmarks a deletion.
    this.next.addPoint(this.source.point(id), id);
    this.labels.add(id);
    this.deleted.delete(id);
  }
}
