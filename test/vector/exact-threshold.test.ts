import { describe, expect, it } from 'vitest';
import { DEFAULT_EXACT_SEARCH_THRESHOLD, loadConfig } from '../../src/config.ts';
import { HnswIndex } from '../../src/store/vector/hnsw-index.ts';

/** One exact-search threshold, named once in config, used by every layer. */
function unit(i: number, dims: number): Float32Array {
  const v = new Float32Array(dims);
  v[i % dims] = 1;
  v[(i * 7 + 3) % dims]! += 0.5;
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe('EXACT_SEARCH_THRESHOLD', () => {
  it('defaults to one named value, can be set, and is range-checked', () => {
    expect(loadConfig({ env: {} }).search.exactThreshold).toBe(DEFAULT_EXACT_SEARCH_THRESHOLD);
    expect(loadConfig({ env: { EXACT_SEARCH_THRESHOLD: '50' } }).search.exactThreshold).toBe(50);
    expect(() => loadConfig({ env: { EXACT_SEARCH_THRESHOLD: '-1' } })).toThrow(/EXACT_SEARCH_THRESHOLD/);
  });

  it('decides whether HnswIndex scores an id-set filter exactly: with 0 the graph answers, with the default every allowed id is found', () => {
    const dims = 8;
    const n = 400;
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const vectors = new Float32Array(n * dims);
    ids.forEach((_, i) => vectors.set(unit(i, dims), i * dims));
    const allowed = new Set(ids.filter((id) => id % 40 === 0)); // 10 ids
    const query = unit(5, dims);
    const exact = HnswIndex.create(dims, { seed: 1 });
    exact.add(ids, vectors);
    const hits = exact.search(query, 10, { filter: allowed, ef: 10 });
    expect(hits.map((h) => h.id).sort((a, b) => a - b)).toEqual([...allowed].sort((a, b) => a - b));
    // The same index with the threshold at 0 walks the graph: a 2.5% filter at ef 10 may miss some,
    // but whatever it returns is allowed.
    const graph = HnswIndex.create(dims, { seed: 1, exactFilterLimit: 0 });
    graph.add(ids, vectors);
    for (const h of graph.search(query, 10, { filter: allowed, ef: 10 }))
      expect(allowed.has(h.id)).toBe(true);
  });
});
