/**
 * Issue 9, item 2: a cursor taken on one retrieval path must compare against scores from the other
 * path in one precision. hnswlib's own float32 SIMD distance differed from the exact dot product
 * by ~1e-8, so a filter crossing the exact threshold between pages repeated the cursor item.
 */
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/search/cursor.ts';
import { exactTopK } from '../../src/search/retrieve.ts';
import { HnswIndex } from '../../src/store/vector/hnsw-index.ts';
import { range, row, unitVectors } from '../vector/vectors.ts';

const DIMS = 64;
const N = 300;

describe('scores in one precision', () => {
  it('HNSW, its subset path and the exact path score every vector bit for bit alike', () => {
    const data = unitVectors(N, DIMS, 11);
    const ids = range(1, N);
    const hnsw = HnswIndex.create(DIMS, { initialCapacity: N });
    hnsw.add(ids, data);
    const all = new Map(ids.map((id, i) => [id, row(data, i, DIMS)]));
    for (const q of [0, 7, 123]) {
      const query = unitVectors(1, DIMS, 1000 + q);
      const exact = exactTopK(query, all, N);
      const native = hnsw.search(query, N, { ef: N });
      const subset = hnsw.search(query, N, { filter: new Set(ids) });
      expect(native).toEqual(exact);
      expect(subset).toEqual(exact);
    }
  });

  it('a cursor carries its score as a float32 value', () => {
    const score = 0.1234567890123;
    const cursor = decodeCursor(encodeCursor({ q: 'h', score, id: 3, offset: 1 }), 'h');
    expect(cursor).toEqual({ q: 'h', score: Math.fround(score), id: 3, offset: 1 });
  });
});
