import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HnswIndex, type HnswOptions } from '../../src/store/vector/hnsw-index.ts';
import { createRng } from '../../src/train/rng.ts';
import { startWatchdog, type Watchdog } from '../lifecycle/watchdog.ts';
import { row, unitVectors } from './vectors.ts';

/**
 * hnswlib only marks deletions, grows only when told to, and reloads an empty file with capacity
 * 0. These tests walk `HnswIndex` through the states that exposed that: saved empty, all deleted,
 * mostly deleted, with adds interleaved. Every step runs under a watchdog: the empty-index bug was
 * an endless synchronous loop, which no timer in this thread could interrupt.
 */

let tmp: string;
let watchdog: Watchdog;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'hnsw-repair-'));
  watchdog = startWatchdog();
});
afterAll(async () => {
  await watchdog.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** A live model of what the index should hold: id -> vector. */
class Tracked {
  readonly vectors = new Map<number, Float32Array>();
  constructor(
    readonly index: HnswIndex,
    private readonly dims: number,
    private readonly seed: number,
    /** The id the next `add` uses. */
    public next = 1,
  ) {}

  /** The same model over another index (the same one reloaded). */
  over(index: HnswIndex, seed: number): Tracked {
    const copy = new Tracked(index, this.dims, seed, this.next);
    for (const [id, v] of this.vectors) copy.vectors.set(id, v);
    return copy;
  }

  add(n: number): number[] {
    const data = unitVectors(n, this.dims, this.seed * 1_000_003 + this.next);
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.next++;
      this.vectors.set(id, row(data, i, this.dims));
      this.index.add([id], row(data, i, this.dims));
      ids.push(id);
    }
    return ids;
  }

  remove(ids: readonly number[]): void {
    for (const id of ids) {
      this.index.remove([id]);
      this.vectors.delete(id);
    }
  }

  /** Live ids a search for their own vector does not return within the top `k`. */
  unreachable(k = 10): number[] {
    const lost: number[] = [];
    for (const [id, v] of this.vectors) {
      if (!this.index.search(v, k).some((h) => h.id === id)) lost.push(id);
    }
    return lost;
  }
}

const create = (dims: number, options: HnswOptions = {}) => HnswIndex.create(dims, options);

describe('HnswIndex saved empty', () => {
  it('loads, grows on the first add and finds every item added one at a time', async () => {
    await watchdog.guard('saved empty: load, add, search', async () => {
      const snapshot = await create(8).save(tmp, 'empty.hnsw');
      expect(snapshot).toMatchObject({ count: 0, deleted: [] });
      const loaded = await HnswIndex.load(tmp, snapshot);
      expect(loaded.size).toBe(0);
      expect(loaded.search(unitVectors(1, 8, 1), 5)).toEqual([]);
      const tracked = new Tracked(loaded, 8, 1);
      tracked.add(40);
      expect(loaded.size).toBe(40);
      expect(loaded.capacity).toBeGreaterThanOrEqual(40);
      expect(tracked.unreachable(1)).toEqual([]);
    });
  });

  it('an index whose every item was deleted saves, loads and grows again', async () => {
    await watchdog.guard('all deleted: save, load, add', async () => {
      const tracked = new Tracked(create(8), 8, 2);
      tracked.remove(tracked.add(20));
      const loaded = await HnswIndex.load(tmp, await tracked.index.save(tmp, 'all-deleted.hnsw'));
      const again = new Tracked(loaded, 8, 3);
      again.add(5);
      expect(loaded.ids().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
      expect(again.unreachable(1)).toEqual([]);
    });
  });
});

describe('HnswIndex after delete-heavy sequences', () => {
  // The measurements: 100 then 10 left ~2 of 10 findable; 500 then 100 left ~75.
  it.each([
    [16, 100, 10],
    [64, 100, 10],
    [16, 500, 100],
    [64, 500, 100],
  ])(
    '%i-d: deleting %i one at a time then adding %i one at a time leaves every item findable',
    async (dims, n, add) => {
      await watchdog.guard(`delete ${n} add ${add} (${dims}-d)`, () => {
        for (let seed = 0; seed < 5; seed++) {
          const tracked = new Tracked(create(dims), dims, 100 + seed);
          tracked.remove(tracked.add(n));
          tracked.add(add);
          expect({ seed, unreachable: tracked.unreachable() }).toEqual({ seed, unreachable: [] });
        }
      });
    },
  );

  it('finds every live item through random interleavings of adds and deletes, across save and load', async () => {
    await watchdog.guard('random interleavings', async () => {
      const rng = createRng(7);
      const dims = 16;
      let tracked = new Tracked(create(dims), dims, 7);
      for (let round = 0; round < 30; round++) {
        tracked.add(1 + rng.int(40));
        const live = [...tracked.vectors.keys()];
        const share = [0, 0.5, 0.9, 1][rng.int(4)] as number;
        tracked.remove(live.filter(() => rng.next() < share));
        if (round % 7 === 6) {
          const loaded = await HnswIndex.load(tmp, await tracked.index.save(tmp, `r${round}.hnsw`));
          tracked = tracked.over(loaded, 700 + round);
        }
        expect({ round, unreachable: tracked.unreachable() }).toEqual({ round, unreachable: [] });
        expect(tracked.index.size).toBe(tracked.vectors.size);
      }
      expect(tracked.index.compactions).toBeGreaterThan(0);
    });
  });

  it('rebuilds when deleted ids reach half the graph, keeping every live id and vector', () => {
    const tracked = new Tracked(create(16), 16, 9);
    const ids = tracked.add(100);
    tracked.remove(ids.slice(0, 49));
    expect(tracked.index.compactIfNeeded()).toBe(false);
    expect(tracked.index.deletedIds()).toHaveLength(49);
    tracked.remove([ids[49]!]);
    expect(tracked.index.compactIfNeeded()).toBe(true);
    expect(tracked.index.deletedIds()).toEqual([]);
    expect(tracked.index.ids().sort((a, b) => a - b)).toEqual(ids.slice(50));
    for (const [id, v] of tracked.vectors) {
      expect(tracked.index.search(v, 1)[0]).toEqual({ id, score: expect.closeTo(1, 5) });
    }
  });

  it('repairs on load a mostly deleted file written without compaction', async () => {
    // compactAt 1: rebuild only when everything is deleted, the closest to the old behaviour.
    const tracked = new Tracked(create(16, { compactAt: 1 }), 16, 11);
    const ids = tracked.add(300);
    tracked.remove(ids.slice(0, 290));
    tracked.add(60);
    const snapshot = await tracked.index.save(tmp, 'mostly-deleted.hnsw');
    expect(snapshot.deleted).toHaveLength(290);
    const loaded = await HnswIndex.load(tmp, snapshot);
    expect(loaded.compactions).toBe(1);
    expect(loaded.deletedIds()).toEqual([]);
    expect(tracked.over(loaded, 12).unreachable()).toEqual([]);
  });
});
