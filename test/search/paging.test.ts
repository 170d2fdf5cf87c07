/**
 * Issue 9, item 2: cursor paging over the HNSW path must not depend on the page size. Before the
 * fix, 500 images paged with `first: 100` gave 100 + 99 = 199 items and then `hasNextPage: false`.
 * Everything here goes through GraphQL over HTTP, into the real engine, hnswlib and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../api/fixture.ts';

interface Conn {
  edges: { cursor: string; score: number; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ n: 500 });
});
afterAll(async () => {
  await t?.close();
});

async function page(
  field: 'searchImages' | 'searchCaptions',
  args: string,
  after: string | null,
  first: number,
) {
  const r = await t.gql<Record<string, Conn>>(
    `query ($first: Int, $after: String) {
      ${field}(${args}, first: $first, after: $after) {
        edges { cursor score node { id } } pageInfo { hasNextPage endCursor }
      }
    }`,
    { first, after },
  );
  expect(r.errors).toBeUndefined();
  return r.data![field]!;
}

/** Pages until hasNextPage is false (at most `maxPages`), returning the ids and each page's size. */
async function pageThrough(
  field: 'searchImages' | 'searchCaptions',
  args: string,
  first: number,
  maxPages = 100,
) {
  const ids: string[] = [];
  const sizes: number[] = [];
  let after: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const p: Conn = await page(field, args, after, first);
    ids.push(...p.edges.map((e) => e.node.id));
    sizes.push(p.edges.length);
    after = p.pageInfo.endCursor;
    if (!p.pageInfo.hasNextPage) break;
  }
  return { ids, sizes };
}

describe('paging searchImages over 500 images (the issue figures)', () => {
  it('pages of 100 reach all 500 images, five full pages, in the order of one first: 500 page', async () => {
    const { ids, sizes } = await pageThrough('searchImages', 'text: "a shape"', 100);
    expect(sizes).toEqual([100, 100, 100, 100, 100]);
    expect(new Set(ids).size).toBe(500);
    // The exact path (a filter every image passes) ranks the same 500 images.
    const filtered = await pageThrough('searchImages', 'text: "a shape", filter: { minWidth: 1 }', 100);
    expect(filtered.ids).toEqual(ids);
  });

  it('pages of 10 and of 100 give the same first 300 items', async () => {
    const small = await pageThrough('searchImages', 'text: "a red circle"', 10, 30);
    const large = await pageThrough('searchImages', 'text: "a red circle"', 100, 3);
    expect(small.ids).toEqual(large.ids);
    expect(small.ids).toHaveLength(300);
  });

  it('hybrid: pages of 100 reach all 500 images, and pages of 30 give the same first 300', async () => {
    const args = 'text: "a shape", options: { hybrid: { keywords: "circle" } }';
    const { ids, sizes } = await pageThrough('searchImages', args, 100);
    expect(sizes).toEqual([100, 100, 100, 100, 100]);
    expect(new Set(ids).size).toBe(500);
    const small = await pageThrough('searchImages', args, 30, 10);
    expect(small.ids).toEqual(ids.slice(0, 300));
  });

  it('searchCaptions pages of 100 reach all 1000 captions', async () => {
    const { ids, sizes } = await pageThrough('searchCaptions', 'image: { id: "7" }', 100);
    expect(sizes).toEqual(Array(10).fill(100));
    expect(new Set(ids).size).toBe(1000);
  });
});
