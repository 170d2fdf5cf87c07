/**
 * One contract for every vector backend behind the engine's async, filter-taking seam: hnsw,
 * exact, and pgvector. pgvector runs on PGlite (pgvector 0.8 compiled to WASM), in-process and
 * through the wire protocol with pglite-socket + pg: Debian 12 has no pgvector server package.
 * The truth is computed here by brute force over the live, allowed vectors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageFilter } from '../../src/store/image-filter.ts';
import type { SearchHit } from '../../src/store/vector/types.ts';
import { subjects, type Subject } from './backends.ts';
import { row, unitVectors } from './vectors.ts';

/**
 * 16-d: HNSW checks a filter in rounds whose beam width is the probe size (filtered-search.ts), and
 * at this size that is exact in 16 dimensions; recall at scale is what bench:ann-backends measures.
 */
const DIMS = 16;
const N = 3000;
/** Far below every filter's allowed set, so each search walks the backend's index. */
const INDEX_PATH = 5;
/** Above every allowed set: the exact path. */
const EXACT_PATH = 10_000;
const FILTERS: [string, ImageFilter | undefined][] = [
  ['no filter', undefined],
  ['1% selectivity', { metadata: { s1: true } }],
  ['10% selectivity', { metadata: { s10: true } }],
  ['50% selectivity', { metadata: { s50: true } }],
];
const data = unitVectors(N, DIMS, 11);
const QUERIES = 4;
const queries = unitVectors(QUERIES, DIMS, 12);

function metadataOf(i: number): Record<string, unknown> {
  return { s1: i % 100 === 0, s10: i % 10 === 0, s50: i % 2 === 0 };
}

/** Brute force in float64 over what is live and allowed. */
function truth(
  query: Float32Array,
  k: number,
  live: ReadonlyMap<number, number>,
  filter: ImageFilter | undefined,
): SearchHit[] {
  const wanted = filter?.metadata ? Object.keys(filter.metadata)[0]! : undefined;
  const hits: SearchHit[] = [];
  for (const [id, i] of live) {
    if (wanted && metadataOf(i)[wanted] !== true) continue;
    let s = 0;
    for (let d = 0; d < DIMS; d++) s += query[d]! * data[i * DIMS + d]!;
    hits.push({ id, score: s });
  }
  return hits.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, k);
}

function expectSame(got: SearchHit[], want: SearchHit[], context: string): void {
  expect(
    got.map((h) => h.id),
    context,
  ).toEqual(want.map((h) => h.id));
  got.forEach((h, i) => expect(Math.abs(h.score - want[i]!.score), context).toBeLessThan(1e-5));
}

describe.each(subjects.map((s) => [s.name, s] as const))('vector backend contract: %s', (_name, factory) => {
  let subject: Subject;
  /** id -> row of `data`, for the live items. */
  const live = new Map<number, number>();

  beforeAll(async () => {
    subject = await factory.open(DIMS);
  }, 120_000);
  afterAll(async () => {
    await subject?.close();
  });

  async function expectExactEverywhere(label: string, threshold: number): Promise<string[]> {
    const strategies: string[] = [];
    for (const [name, filter] of FILTERS) {
      for (let q = 0; q < QUERIES; q++) {
        const query = row(queries, q, DIMS);
        for (const k of [10, 100]) {
          const got = await subject.search.knn(query, k, { filter, exactThreshold: threshold });
          strategies.push(`${name}:${got.strategy}`);
          expectSame(got.results, truth(query, k, live, filter), `${label}, ${name}, query ${q}, k ${k}`);
        }
      }
    }
    return strategies;
  }

  it('an empty backend finds nothing, with or without a filter', async () => {
    expect(await subject.search.count()).toBe(0);
    for (const [, filter] of FILTERS) {
      const got = await subject.search.knn(row(queries, 0, DIMS), 10, { filter, exactThreshold: INDEX_PATH });
      expect(got.results).toEqual([]);
    }
  });

  it('after adds: every filtered top-k equals the exact one, on the index path and the exact path', async () => {
    for (let start = 0; start < N; start += 1000) {
      const rows = Array.from({ length: Math.min(1000, N - start) }, (_, j) => ({
        metadata: metadataOf(start + j),
        vector: row(data, start + j, DIMS),
      }));
      const ids = await subject.add(rows);
      ids.forEach((id, j) => live.set(id, start + j));
    }
    expect(await subject.search.count()).toBe(N);
    const indexPath = await expectExactEverywhere('index path', INDEX_PATH);
    const exactPath = await expectExactEverywhere('exact path', EXACT_PATH);
    // Filtered searches really went through each backend's index (k = 10 fills at 1% here).
    const filtered = subject.search.implementation === 'pgvector' ? 'pgvector-filtered' : 'hnsw-filtered';
    if (subject.search.implementation !== 'exact') expect(indexPath).toContain(`10% selectivity:${filtered}`);
    expect(exactPath.filter((s) => !s.startsWith('no filter')).every((s) => s.endsWith('exact'))).toBe(true);
  }, 300_000);

  it('pages are stable: the same window comes back for every page, whatever came before', async () => {
    // The engine cuts every page from one window of fixed depth; the window must not depend on
    // which searches ran before it (HNSW's visited lists, pgvector's scan state) or on the path.
    const query = row(queries, 1, DIMS);
    const windows = [];
    for (const [, filter] of [...FILTERS, ...FILTERS.slice().reverse()]) {
      windows.push((await subject.search.knn(query, 60, { filter, exactThreshold: INDEX_PATH })).results);
    }
    const n = FILTERS.length;
    for (let i = 0; i < n; i++) {
      expect(windows[2 * n - 1 - i], FILTERS[i]![0]).toEqual(windows[i]);
      expectSame(windows[i]!, truth(query, 60, live, FILTERS[i]![1]), FILTERS[i]![0]);
    }
  });

  it('after deletes: deleted items never come back, the rest still equal the exact top-k', async () => {
    const doomed = [...live.keys()].filter((_, i) => i % 7 === 0 || i % 100 === 0);
    await subject.remove(doomed);
    for (const id of doomed) live.delete(id);
    expect(await subject.search.count()).toBe(live.size);
    await expectExactEverywhere('after deletes', INDEX_PATH);
  }, 300_000);

  it('adds after deletes are found at once', async () => {
    const fresh = unitVectors(3, DIMS, 13);
    const query = row(fresh, 0, DIMS);
    const ids = await subject.add(
      [0, 1, 2].map((j) => ({ metadata: { s1: true }, vector: row(fresh, j, DIMS) })),
    );
    const got = await subject.search.knn(query, 1, {
      filter: { metadata: { s1: true } },
      exactThreshold: INDEX_PATH,
    });
    expect(got.results.map((h) => h.id)).toEqual([ids[0]]);
    expect(got.results[0]!.score).toBeCloseTo(1, 5);
    await subject.remove(ids);
  });

  it('all deleted: nothing is found and the count is 0', async () => {
    await subject.remove([...live.keys()]);
    live.clear();
    expect(await subject.search.count()).toBe(0);
    for (const [name, filter] of FILTERS) {
      const got = await subject.search.knn(row(queries, 0, DIMS), 10, { filter, exactThreshold: INDEX_PATH });
      expect(got.results, name).toEqual([]);
    }
  });
});
