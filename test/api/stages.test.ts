import { parse, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { batchLoader } from '../../src/api/batch-loader.ts';
import { measureOperation } from '../../src/api/query-limits.ts';
import { afterCursor, decodeCursor, encodeCursor, hashQuery } from '../../src/search/cursor.ts';
import { isEmptyFilter } from '../../src/search/retrieve.ts';
import { fuseScores } from '../../src/search/rerank.ts';

describe('cursors', () => {
  it('round-trip and cut strictly after (score, id) in score-desc, id-asc order', () => {
    const q = hashQuery({ text: 'a', filter: { b: 1, a: 2 } });
    expect(hashQuery({ filter: { a: 2, b: 1 }, text: 'a' })).toBe(q);
    const cursor = { q, score: 0.5, id: 7, offset: 3 };
    expect(decodeCursor(encodeCursor(cursor), q)).toEqual(cursor);
    const ranked = [
      { id: 1, score: 0.9 },
      { id: 3, score: 0.5 },
      { id: 7, score: 0.5 },
      { id: 9, score: 0.5 },
      { id: 2, score: 0.1 },
    ];
    expect(afterCursor(ranked, cursor).map((r) => r.id)).toEqual([9, 2]);
    expect(() => decodeCursor(encodeCursor(cursor), 'other')).toThrow(/different query/);
    expect(() => decodeCursor('bm90IGpzb24', q)).toThrow(/Malformed cursor/);
  });
});

describe('hybrid fusion', () => {
  it('scores cosine + weight * keyword score in float32, best first, ties by id', () => {
    const cosines = new Map([
      [1, 0.9],
      [2, 0.5],
      [3, 0.4],
      [4, 0.5],
    ]);
    const keyword = new Map([
      [3, 0.5],
      [4, 0.1],
      [5, 1],
    ]);
    // 5 has no cosine (no vector): it cannot be scored and is left out.
    expect(fuseScores(cosines, keyword, 2)).toEqual([
      { id: 3, score: Math.fround(Math.fround(0.4) + 2 * Math.fround(0.5)) },
      { id: 1, score: Math.fround(0.9) },
      { id: 4, score: Math.fround(Math.fround(0.5) + 2 * Math.fround(0.1)) },
      { id: 2, score: Math.fround(0.5) },
    ]);
  });
});

describe('query measurement', () => {
  function measure(source: string, variables: Record<string, unknown> = {}) {
    const doc = parse(source);
    const op = doc.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode;
    const fragments = Object.fromEntries(
      doc.definitions
        .filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition')
        .map((f) => [f.name.value, f]),
    );
    return measureOperation(op, fragments, variables);
  }

  it('counts depth through fragments, ignores introspection, multiplies by first', () => {
    expect(measure('{ a { b { c } } }')).toEqual({ depth: 3, complexity: 3 });
    expect(measure('{ a { ...F } } fragment F on A { b { c } }')).toEqual({ depth: 3, complexity: 3 });
    expect(measure('{ __schema { types { fields { type { ofType { name } } } } } }').depth).toBe(0);
    expect(measure('query ($n: Int) { s(first: $n) { e { x y } } }', { n: 10 })).toEqual({
      depth: 3,
      complexity: 31,
    });
    expect(measure('{ s(first: 2) { e { x y } } }').complexity).toBe(7);
  });
});

describe('batch loader', () => {
  it('loads every key asked for in one turn with one call, and caches', async () => {
    const calls: number[][] = [];
    const load = batchLoader(
      async (keys: number[]) => {
        calls.push(keys);
        return new Map(keys.map((k) => [k, k * 10]));
      },
      () => -1,
    );
    expect(await Promise.all([load(1), load(2), load(1), load(3)])).toEqual([10, 20, 10, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
    expect(await load(2)).toBe(20);
    expect(calls).toHaveLength(1);
  });
});

describe('filters', () => {
  it('treat empty fields as no filter', () => {
    expect(isEmptyFilter(undefined)).toBe(true);
    expect(isEmptyFilter({ metadata: {}, formats: [], captionMatch: ' ' })).toBe(true);
    expect(isEmptyFilter({ minWidth: 0 })).toBe(false);
    expect(isEmptyFilter({ createdAfter: new Date(0) })).toBe(false);
  });
});
