/**
 * Issue 9, item 2: a cursor taken on one retrieval path must cut a list scored by the other. The
 * exact path and hnswlib score one vector up to a float32 ulp apart, and a filter crossing the
 * exact threshold between pages repeated the cursor item.
 */
import { describe, expect, it } from 'vitest';
import { afterCursor, decodeCursor, encodeCursor } from '../../src/search/cursor.ts';

const ulp = (x: number) => Math.fround(x * (1 + 2 ** -23)) - Math.fround(x);

describe('cursor cuts across score precisions', () => {
  it('cuts right after its own item even when the new list scores it a float32 ulp higher', () => {
    // Page 1 came from the exact path: item 5 at 0.5; item 9 is its identical twin.
    const cursor = { q: 'h', score: Math.fround(0.5), id: 5, offset: 3 };
    const up = Math.fround(0.5) + ulp(0.5);
    // Page 2 comes from HNSW, which scores both twins one ulp higher.
    const ranked = [
      { id: 2, score: Math.fround(0.75) },
      { id: 5, score: up },
      { id: 9, score: up },
      { id: 4, score: Math.fround(0.25) },
    ];
    expect(afterCursor(ranked, cursor)).toEqual([ranked[2], ranked[3]]);
  });

  it('falls back to (score, id) when its item is gone', () => {
    const cursor = { q: 'h', score: Math.fround(0.5), id: 5, offset: 3 };
    const ranked = [
      { id: 2, score: Math.fround(0.75) },
      { id: 3, score: Math.fround(0.5) },
      { id: 9, score: Math.fround(0.5) },
      { id: 4, score: Math.fround(0.25) },
    ];
    expect(afterCursor(ranked, cursor)).toEqual([ranked[2], ranked[3]]);
  });

  it('carries its score as a float32 value', () => {
    const score = 0.1234567890123;
    const cursor = decodeCursor(encodeCursor({ q: 'h', score, id: 3, offset: 1 }), 'h');
    expect(cursor).toEqual({ q: 'h', score: Math.fround(score), id: 3, offset: 1 });
  });
});
