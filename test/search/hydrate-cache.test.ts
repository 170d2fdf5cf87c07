import { describe, expect, it } from 'vitest';
import { ImageNodeCache } from '../../src/search/hydrate-cache.ts';
import type { ImageNode } from '../../src/search/types.ts';

const node = (id: number, uri = `file:///${id}.png`): ImageNode =>
  ({
    id,
    uri,
    width: 1,
    height: 1,
    format: 'png',
    bytes: 1,
    metadata: {},
    createdAt: new Date(0),
  }) as unknown as ImageNode;

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('ImageNodeCache', () => {
  it('returns what it stored and lists the rest as missing, in the order asked', () => {
    const cache = new ImageNodeCache({ maxEntries: 10, ttlMs: 1000 });
    const { generation } = cache.lookup([1, 2]);
    cache.store([node(1), node(2)], generation);
    const { found, missing } = cache.lookup([3, 2, 1, 4]);
    expect([...found.keys()]).toEqual([2, 1]);
    expect(found.get(2)).toEqual(node(2));
    expect(missing).toEqual([3, 4]);
  });

  it('evicts the least recently used entry when full', () => {
    const cache = new ImageNodeCache({ maxEntries: 2, ttlMs: 1000 });
    cache.store([node(1), node(2)], cache.lookup([]).generation);
    cache.lookup([1]); // 1 is now more recent than 2
    cache.store([node(3)], cache.lookup([]).generation);
    expect(cache.size).toBe(2);
    expect(cache.lookup([1, 2, 3]).missing).toEqual([2]);
  });

  it('reads an entry again once it is older than the TTL', () => {
    const c = clock();
    const cache = new ImageNodeCache({ maxEntries: 10, ttlMs: 100 }, c.now);
    cache.store([node(1)], cache.lookup([]).generation);
    c.advance(100);
    expect(cache.lookup([1]).missing).toEqual([]);
    c.advance(1);
    expect(cache.lookup([1]).missing).toEqual([1]);
    expect(cache.size).toBe(0);
  });

  it('forgets changed images, and drops a load that began before the change', () => {
    const cache = new ImageNodeCache({ maxEntries: 10, ttlMs: 1000 });
    cache.store([node(1), node(2)], cache.lookup([]).generation);
    const before = cache.lookup([3]).generation; // a load of 3 starts...
    cache.forget([1]); // ...image 3 (or any) changes meanwhile...
    cache.store([node(3, 'file:///stale.png')], before); // ...and its stale read is not kept
    expect(cache.lookup([1, 2, 3]).missing).toEqual([1, 3]);
    const after = cache.lookup([3]).generation;
    cache.store([node(3)], after);
    expect(cache.lookup([3]).found.get(3)).toEqual(node(3));
  });
});
