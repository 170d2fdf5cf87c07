import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { ExactIndex } from '../../src/store/vector/exact-index.ts';
import { HnswIndex } from '../../src/store/vector/hnsw-index.ts';
import type { IndexSnapshot, VectorIndex } from '../../src/store/vector/types.ts';
import { startWatchdog, type Watchdog } from '../lifecycle/watchdog.ts';
import { range, row, unitVectors } from './vectors.ts';

/** One contract, every implementation: what the search engine may rely on. */
interface Implementation {
  name: string;
  create(dims: number): VectorIndex;
  load(dir: string, snapshot: IndexSnapshot): Promise<VectorIndex>;
}

const implementations: Implementation[] = [
  {
    name: 'HnswIndex',
    // Small initial capacity so the tests exercise resizeIndex; ef high enough to be exact at this size.
    create: (dims) => HnswIndex.create(dims, { initialCapacity: 16, ef: 200 }),
    load: (dir, snapshot) => HnswIndex.load(dir, snapshot, { ef: 200 }),
  },
  {
    name: 'ExactIndex',
    create: (dims) => new ExactIndex(dims, 4),
    load: (dir, snapshot) => ExactIndex.load(dir, snapshot),
  },
];

const DIMS = 32;
const N = 300;
const data = unitVectors(N, DIMS, 7);
const queries = unitVectors(20, DIMS, 8);
const ids = range(1000, N);

/** Brute-force truth computed here, independently of either implementation. */
function truth(
  query: Float32Array,
  k: number,
  allowed?: (id: number) => boolean,
): { id: number; score: number }[] {
  const all: { id: number; score: number }[] = [];
  for (let i = 0; i < N; i++) {
    const id = ids[i] as number;
    if (allowed && !allowed(id)) continue;
    let s = 0;
    for (let d = 0; d < DIMS; d++) s += (query[d] as number) * (data[i * DIMS + d] as number);
    all.push({ id, score: s });
  }
  return all.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, k);
}

let tmp: string;
let watchdog: Watchdog;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'vector-contract-'));
  watchdog = startWatchdog();
});
afterAll(async () => {
  await watchdog.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe.each(implementations.map((i) => [i.name, i] as const))(
  '%s satisfies the VectorIndex contract',
  (_name, impl) => {
    const filled = (): VectorIndex => {
      const index = impl.create(DIMS);
      index.add(ids, data);
      return index;
    };

    it(`${impl.name}: an empty index returns no hits`, () => {
      const index = impl.create(DIMS);
      expect(index.size).toBe(0);
      expect(index.search(row(queries, 0, DIMS), 10)).toEqual([]);
    });

    it(`${impl.name}: returns the true top-k, best first, with inner-product scores`, () => {
      const index = filled();
      expect(index.size).toBe(N);
      for (let q = 0; q < 20; q++) {
        const query = row(queries, q, DIMS);
        const hits = index.search(query, 10);
        const expected = truth(query, 10);
        expect(hits.map((h) => h.id)).toEqual(expected.map((h) => h.id));
        hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.score, 4));
        for (let i = 1; i < hits.length; i++)
          expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
      }
    });

    it(`${impl.name}: finds a stored vector as its own nearest neighbour with score 1`, () => {
      const index = filled();
      const [hit] = index.search(row(data, 42, DIMS), 1);
      expect(hit!.id).toBe(ids[42]);
      expect(hit!.score).toBeCloseTo(1, 5);
    });

    it(`${impl.name}: returns at most size hits when k is larger`, () => {
      const index = impl.create(DIMS);
      index.add(ids.slice(0, 3), data.slice(0, 3 * DIMS));
      expect(
        index
          .search(row(queries, 0, DIMS), 50)
          .map((h) => h.id)
          .sort(),
      ).toEqual(ids.slice(0, 3));
    });

    it(`${impl.name}: adding an existing id replaces its vector without growing`, () => {
      const index = filled();
      const target = row(queries, 3, DIMS);
      index.add([ids[5]!], target);
      expect(index.size).toBe(N);
      expect(index.search(target, 1)[0]).toEqual({ id: ids[5], score: expect.closeTo(1, 5) });
    });

    it(`${impl.name}: removed ids are never returned, and re-adding brings them back`, () => {
      const index = filled();
      const query = row(queries, 1, DIMS);
      const best = truth(query, 5).map((h) => h.id);
      expect(index.remove(best.slice(0, 2))).toBe(2);
      expect(index.remove([best[0]!, 999_999])).toBe(0);
      expect(index.size).toBe(N - 2);
      expect(index.has(best[0]!)).toBe(false);
      const hits = index.search(query, 3).map((h) => h.id);
      expect(hits).toEqual(best.slice(2, 5));
      expect(index.ids()).not.toContain(best[0]);
      const i0 = ids.indexOf(best[0]!);
      index.add([best[0]!], row(data, i0, DIMS));
      expect(index.has(best[0]!)).toBe(true);
      expect(index.search(query, 1)[0]!.id).toBe(best[0]);
    });

    it.each([
      ['a small Set', (allowed: number[]) => new Set(allowed)],
      ['a predicate', (allowed: number[]) => (id: number) => allowed.includes(id)],
    ])(`${impl.name}: a filter given as %s restricts hits to allowed ids`, (_name, make) => {
      const index = filled();
      const allowed = ids.filter((id) => id % 7 === 0);
      const query = row(queries, 2, DIMS);
      const hits = index.search(query, 5, { filter: make(allowed) });
      expect(hits.map((h) => h.id)).toEqual(truth(query, 5, (id) => id % 7 === 0).map((h) => h.id));
    });

    it(`${impl.name}: a large allowed Set also works`, () => {
      const index = filled();
      const allowed = new Set(ids.filter((id) => id % 2 === 0));
      const query = row(queries, 4, DIMS);
      expect(index.search(query, 10, { filter: allowed }).map((h) => h.id)).toEqual(
        truth(query, 10, (id) => allowed.has(id)).map((h) => h.id),
      );
    });

    it(`${impl.name}: rejects wrong dimensions, bad ids and non-finite values with INVALID_INPUT`, () => {
      const index = impl.create(DIMS);
      const bad: [string, () => unknown][] = [
        ['short vector', () => index.add([1], new Float32Array(DIMS - 1))],
        ['negative id', () => index.add([-1], new Float32Array(DIMS))],
        ['fractional id', () => index.add([1.5], new Float32Array(DIMS))],
        ['NaN', () => index.add([1], new Float32Array(DIMS).fill(Number.NaN))],
        ['query dims', () => index.search(new Float32Array(DIMS + 1), 3)],
      ];
      for (const [, fn] of bad) {
        let caught: unknown;
        try {
          fn();
        } catch (error) {
          caught = error;
        }
        expect(isAppError(caught, 'INVALID_INPUT')).toBe(true);
      }
      expect(index.size).toBe(0);
    });

    it(`${impl.name}: save then load gives the same index, deletions included`, async () => {
      const index = filled();
      index.remove([ids[0]!, ids[1]!]);
      const dir = await mkdtemp(path.join(tmp, impl.name));
      const snapshot = await index.save(dir, 'vectors.bin');
      expect(snapshot).toMatchObject({
        file: 'vectors.bin',
        dims: DIMS,
        count: N - 2,
        implementation: impl.name === 'HnswIndex' ? 'hnsw' : 'exact',
      });
      const loaded = await impl.load(dir, snapshot);
      expect(loaded.size).toBe(N - 2);
      expect(loaded.has(ids[0]!)).toBe(false);
      expect(new Set(loaded.ids())).toEqual(new Set(index.ids()));
      for (let q = 0; q < 5; q++) {
        const query = row(queries, q, DIMS);
        expect(loaded.search(query, 10)).toEqual(index.search(query, 10));
      }
    });

    it(`${impl.name}: loading a truncated file fails with INDEX_CORRUPT`, async () => {
      const index = filled();
      const dir = await mkdtemp(path.join(tmp, `${impl.name}-bad`));
      const snapshot = await index.save(dir, 'vectors.bin');
      const { truncate } = await import('node:fs/promises');
      await truncate(path.join(dir, 'vectors.bin'), Math.floor(snapshot.bytes / 2));
      await expect(impl.load(dir, snapshot)).rejects.toMatchObject({ code: 'INDEX_CORRUPT' });
    });

    it(`${impl.name}: a file of the right size with one byte changed fails its checksum with INDEX_CORRUPT`, async () => {
      const index = filled();
      const dir = await mkdtemp(path.join(tmp, `${impl.name}-flipped`));
      const snapshot = await index.save(dir, 'vectors.bin');
      expect(snapshot.sha256).toMatch(/^[0-9a-f]{64}$/);
      const { readFile, writeFile } = await import('node:fs/promises');
      const bytes = await readFile(path.join(dir, 'vectors.bin'));
      const at = Math.floor(bytes.length * 0.6);
      bytes[at] = (bytes[at] as number) ^ 0x40;
      await writeFile(path.join(dir, 'vectors.bin'), bytes);
      await expect(impl.load(dir, snapshot)).rejects.toMatchObject({
        code: 'INDEX_CORRUPT',
        message: expect.stringContaining('checksum'),
      });
    });

    it(`${impl.name}: an index saved empty loads and grows`, async () => {
      const dir = await mkdtemp(path.join(tmp, `${impl.name}-empty`));
      const loaded = await impl.load(dir, await impl.create(DIMS).save(dir, 'empty.bin'));
      // Under the watchdog: growing a reloaded empty HNSW file once looped forever.
      await watchdog.guard(`${impl.name}: first add after loading an empty file`, () =>
        loaded.add(ids.slice(0, 40), data.subarray(0, 40 * DIMS)),
      );
      expect(loaded.size).toBe(40);
      expect(loaded.search(row(data, 7, DIMS), 1)[0]?.id).toBe(ids[7]);
    });
  },
);
