import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { isAppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
import { HnswIndex, type HnswOptions } from '../../src/store/vector/hnsw-index.ts';
import { fingerprintDir, openIndexes, readManifest } from '../../src/store/vector/index.ts';
import { range, row, unitVectors } from './vectors.ts';

/**
 * A graph rebuild after mass deletes (HnswIndex.compactAt) re-inserts every live vector: tens of
 * seconds of CPU at 100k. In the background mode the server uses, it runs a slice per event-loop
 * turn while the old graph keeps serving. These tests check that structurally (turns counted,
 * never timed) and that no write made meanwhile is lost or undone.
 */

const DIMS = 16;
let seq = 0;

/** The index and a model of what it must hold: id -> vector. */
function tracked(options: HnswOptions) {
  const index = HnswIndex.create(DIMS, { backgroundRebuild: true, ...options });
  const live = new Map<number, Float32Array>();
  return {
    index,
    live,
    add(ids: readonly number[]) {
      const data = unitVectors(ids.length, DIMS, ++seq);
      index.add(ids, data);
      ids.forEach((id, i) => live.set(id, row(data, i, DIMS)));
    },
    remove(ids: readonly number[]) {
      index.remove(ids);
      for (const id of ids) live.delete(id);
    },
    /** Live ids a search for their own vector misses in the top 10. */
    unreachable(of: HnswIndex = index): number[] {
      return [...live].filter(([id, v]) => !of.search(v, 10).some((h) => h.id === id)).map(([id]) => id);
    },
  };
}

/** Counts event-loop turns until stopped: proof the loop was not blocked meanwhile. */
function countTurns() {
  let turns = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return () => {
    running = false;
    return turns;
  };
}

describe('HnswIndex background rebuild', () => {
  it('answers searches and lets the event loop turn while it rebuilds a mostly deleted graph', async () => {
    const t = tracked({ rebuildSlice: 8 });
    t.add(range(1, 400));
    t.remove(range(1, 300));
    const stop = countTurns();
    t.add([1000]);
    // The add returned before the rebuild: it runs in slices, in later turns.
    expect(t.index.rebuilding).toBe(true);
    expect(t.index.compactions).toBe(0);
    let searchesDuringRebuild = 0;
    while (t.index.rebuilding) {
      expect(t.unreachable()).toEqual([]);
      searchesDuringRebuild++;
      await nextTurn();
    }
    const turns = stop();
    expect(t.index.compactions).toBe(1);
    // 101 live vectors at 8 a slice: 13 slices, each in a turn of its own.
    expect(turns).toBeGreaterThanOrEqual(12);
    expect(searchesDuringRebuild).toBeGreaterThanOrEqual(12);
    expect(t.index.deletedIds()).toEqual([]);
    expect(t.unreachable()).toEqual([]);
  });

  it('reflects every add, delete and re-add made during the rebuild, and finds every live item after', async () => {
    const t = tracked({ rebuildSlice: 4 });
    t.add(range(1, 600));
    t.remove(range(1, 400));
    t.add([2000]);
    expect(t.index.rebuilding).toBe(true);
    const done = t.index.compactInBackground();
    let round = 0;
    let next = 3000;
    while (t.index.rebuilding) {
      // Writes touch ids the rebuild has copied, ids it has not reached yet and ids added meanwhile.
      if (round % 3 === 0) t.add([next++, next++]);
      if (round % 5 === 1) t.remove([401 + round, 600 - round]);
      if (round % 7 === 2) t.remove([next - 1]);
      if (round === 4) t.add([10, 401]); // one deleted before the rebuild, one deleted during it
      expect(t.unreachable()).toEqual([]);
      round++;
      await nextTurn();
    }
    expect(await done).toBe(true);
    expect(round).toBeGreaterThan(10);
    expect(t.index.ids().sort((a, b) => a - b)).toEqual([...t.live.keys()].sort((a, b) => a - b));
    expect(t.index.size).toBe(t.live.size);
    expect(t.unreachable()).toEqual([]);
    // Deleted ids never come back: a search for every vector ever added finds only live ids.
    for (const hit of t.index.search(unitVectors(1, DIMS, 99), 1000)) expect(t.live.has(hit.id)).toBe(true);
  });

  it('finds items added during the rebuild before the swap, though the old graph cannot reach them', async () => {
    // The case: new points in a mostly deleted graph get few or no in-links.
    const t = tracked({ rebuildSlice: 1 });
    t.add(range(1, 2000));
    t.remove(range(1, 1960));
    t.add([5000]);
    let next = 6000;
    while (t.index.rebuilding) {
      t.add([next++]);
      expect(t.unreachable()).toEqual([]);
      await nextTurn();
    }
    expect(next - 6000).toBeGreaterThan(30);
    expect(t.unreachable()).toEqual([]);
  });

  it('with every item deleted, swaps in the empty graph inside the add: nothing to slice', () => {
    const t = tracked({ rebuildSlice: 1 });
    t.add(range(1, 50));
    t.remove(range(1, 50));
    t.add([77]);
    expect(t.index.rebuilding).toBe(false);
    expect(t.index.compactions).toBe(1);
    expect(t.index.deletedIds()).toEqual([]);
    expect(t.unreachable()).toEqual([]);
  });

  it('gives up, keeping the old graph in force, when writes outpace it, and reports TIMEOUT', async () => {
    const errors: unknown[] = [];
    const t = tracked({ rebuildSlice: 1, onRebuildError: (e) => errors.push(e) });
    t.add(range(1, 10));
    t.remove(range(1, 8));
    t.add([100]);
    const done = t.index.compactInBackground();
    let next = 200;
    // Two writes per turn against one applied per turn: the queue never drains.
    while (t.index.rebuilding) {
      t.add([next++, next++]);
      await nextTurn();
    }
    expect(await done).toBe(false);
    expect(errors).toHaveLength(1);
    expect(isAppError(errors[0], 'TIMEOUT')).toBe(true);
    expect(t.index.compactions).toBe(0);
    expect(t.index.size).toBe(t.live.size);
    expect(t.unreachable()).toEqual([]);
  });
});

describe('IndexSet with a background rebuild', () => {
  let dataDir: string;
  let config: Config;
  let db: Db;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bg-rebuild-'));
    config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
    db = await openDb(config);
  });
  afterAll(async () => {
    await db?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Opens an empty set and drives its image index into a rebuild of 1000 live vectors. */
  async function rebuildingSet(fingerprint: string) {
    const set = await openIndexes({
      config,
      db,
      fingerprint,
      dims: DIMS,
      logger: silentLogger,
      rebuildSlice: 1,
    });
    const images = set.images as HnswIndex;
    const live = new Map<number, Float32Array>();
    const add = (ids: number[]) => {
      const data = unitVectors(ids.length, DIMS, ++seq);
      set.add('image', ids, data);
      ids.forEach((id, i) => live.set(id, row(data, i, DIMS)));
    };
    add(range(1, 2500));
    set.markDeleted('image', range(1, 1500));
    for (const id of range(1, 1500)) live.delete(id);
    add([5000]);
    expect(images.rebuilding).toBe(true);
    return { set, images, live, add, dir: path.join(config.paths.indexes, fingerprintDir(fingerprint)) };
  }

  /** Loads what the manifest names and checks it holds exactly `live`, every item findable. */
  async function expectSaved(dir: string, live: Map<number, Float32Array>) {
    const manifest = (await readManifest(dir))!;
    const loaded = await HnswIndex.load(dir, manifest.indexes.image);
    expect(loaded.ids().sort((a, b) => a - b)).toEqual([...live.keys()].sort((a, b) => a - b));
    const lost = [...live].filter(([id, v]) => loaded.search(v, 10)[0]?.id !== id).map(([id]) => id);
    expect(lost).toEqual([]);
  }

  it('a checkpoint during the rebuild saves the complete graph in force, then the repaired one', async () => {
    const { set, images, live, add, dir } = await rebuildingSet('fp-checkpoint');
    await nextTurn();
    add([5001, 5002]);
    set.markDeleted('image', [2000]);
    live.delete(2000);
    expect(images.rebuilding).toBe(true);
    const repaired = images.compactInBackground();
    expect(await set.checkpoint()).toBe(true);
    await expectSaved(dir, live);
    // Once swapped in, the repaired graph counts as a change, so the next checkpoint saves it.
    expect(await repaired).toBe(true);
    expect(await set.checkpoint()).toBe(true);
    expect((await readManifest(dir))!.indexes.image.deleted.length).toBeLessThanOrEqual(1);
    await expectSaved(dir, live);
    await set.close();
  });

  it('close during the rebuild cancels it and saves a consistent index', async () => {
    const { set, images, live, dir } = await rebuildingSet('fp-close');
    await nextTurn();
    await set.close();
    expect(images.rebuilding).toBe(false);
    expect(images.compactions).toBe(0);
    await expectSaved(dir, live);
  });
});
