import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactTopK } from '../../src/search/retrieve.ts';
import { SearchEngine } from '../../src/search/engine.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const IMAGE = 'id uri width height format bytes sha256 metadata createdAt thumbnailUrl captions { id text }';

interface Edge {
  cursor: string;
  score: number;
  node: { id: string; captions: { text: string }[]; metadata: Record<string, unknown> };
}
interface Conn {
  edges: Edge[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ n: 80 });
});
afterAll(async () => {
  await t?.close();
});

async function searchImages(variables: Record<string, unknown>): Promise<Conn> {
  const r = await t.gql<{ searchImages: Conn }>(
    `query ($text: String!, $first: Int, $after: String, $filter: ImageFilter, $minScore: Float) {
      searchImages(text: $text, first: $first, after: $after, filter: $filter, minScore: $minScore) {
        edges { cursor score node { ${IMAGE} } } pageInfo { hasNextPage endCursor }
      }
    }`,
    variables,
  );
  expect(r.errors).toBeUndefined();
  return r.data!.searchImages;
}

/** `search_retrievals_total` from /metrics, keyed `target/strategy`. */
async function retrievals(): Promise<Record<string, number>> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^search_retrievals_total\{target="(\w+)",strategy="([\w-]+)"\} (\d+)$/gm))
    counts[`${m[1]}/${m[2]}`] = Number(m[3]);
  return counts;
}

/** Ground truth: brute force over every stored image vector the predicate allows. */
async function exactImages(text: string, k: number, allow: (id: number) => boolean) {
  const [query] = (await t.app.embedder.embedTexts([text])).vectors;
  const rows = await t.app.repositories.vectors.scan('image', t.app.embedder.fingerprint, {
    afterId: 0,
    limit: 100_000,
  });
  return exactTopK(query!, new Map(rows.filter((r) => allow(r.id)).map((r) => [r.id, r.vector])), k);
}

describe('searchImages (text -> image)', () => {
  it('returns a hydrated connection ranked by score, equal to the exact top-k', async () => {
    const page = await searchImages({ text: 'a red circle', first: 5 });
    expect(page.edges).toHaveLength(5);
    const scores = page.edges.map((e) => e.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    const node = page.edges[0]!.node as unknown as Record<string, unknown>;
    expect(node).toMatchObject({ format: 'png', width: 64, height: 64 });
    // The sample's file name, not its server path (issue 13, item 16).
    expect(t.manifest.map((m) => path.basename(m.image))).toContain(node.uri);
    expect(String(node.thumbnailUrl)).toBe(`${t.url}/media/${String(node.id)}/thumbnail`);
    expect((node.captions as unknown[]).length).toBe(2);
    const exact = await exactImages('a red circle', 5, () => true);
    expect(page.edges.map((e) => Number(e.node.id))).toEqual(exact.map((e) => e.id));
    page.edges.forEach((e, i) => expect(e.score).toBeCloseTo(exact[i]!.score, 4));
    expect(page.pageInfo.hasNextPage).toBe(true);
  });

  it('pages with cursors: stable, no duplicates, same order as one big page', async () => {
    const all = await searchImages({ text: 'a blue square', first: 30 });
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 6; i++) {
      const page: Conn = await searchImages({ text: 'a blue square', first: 5, after });
      seen.push(...page.edges.map((e) => e.node.id));
      after = page.pageInfo.endCursor;
      expect(page.pageInfo.hasNextPage).toBe(true);
    }
    expect(new Set(seen).size).toBe(30);
    expect(seen).toEqual(all.edges.map((e) => e.node.id));
    const again = await searchImages({ text: 'a blue square', first: 5, after: all.edges[4]!.cursor });
    expect(again.edges.map((e) => e.node.id)).toEqual(seen.slice(5, 10));
  });

  it('reaches the end of the collection with hasNextPage false', async () => {
    let after: string | null = null;
    const ids = new Set<string>();
    for (;;) {
      const page: Conn = await searchImages({ text: 'a green triangle', first: 25, after });
      page.edges.forEach((e) => ids.add(e.node.id));
      after = page.pageInfo.endCursor;
      if (!page.pageInfo.hasNextPage) break;
    }
    expect(ids.size).toBe(80);
  });

  it('refuses a cursor from another query, and a malformed one', async () => {
    const page = await searchImages({ text: 'a red circle', first: 2 });
    const r1 = await t.gql(
      `query ($a: String) { searchImages(text: "a blue square", first: 2, after: $a) { edges { score } } }`,
      {
        a: page.pageInfo.endCursor,
      },
    );
    expect(codes(r1)).toEqual(['INVALID_INPUT']);
    expect(r1.errors![0]!.message).toMatch(/different query/);
    const r2 = await t.gql(`{ searchImages(text: "a red circle", after: "garbage!") { edges { score } } }`);
    expect(codes(r2)).toEqual(['INVALID_INPUT']);
  });

  it('applies minScore', async () => {
    const page = await searchImages({ text: 'a red circle', first: 50 });
    const cut = page.edges[9]!.score;
    const filtered = await searchImages({ text: 'a red circle', first: 50, minScore: cut });
    expect(filtered.edges.every((e) => e.score >= cut)).toBe(true);
    expect(filtered.edges.map((e) => e.node.id)).toEqual(
      page.edges.filter((e) => e.score >= cut).map((e) => e.node.id),
    );
    expect((await searchImages({ text: 'a red circle', first: 5, minScore: 1.5 })).edges).toEqual([]);
  });
});

describe('filters against the exact filtered top-k', () => {
  it('small allowed set: exact search equals the ground truth, across pages', async () => {
    const before = await retrievals();
    const filter = { metadata: { split: 'train' }, formats: ['PNG'] };
    const page1 = await searchImages({ text: 'a small yellow circle', first: 6, filter });
    const page2 = await searchImages({
      text: 'a small yellow circle',
      first: 6,
      after: page1.pageInfo.endCursor,
      filter,
    });
    // Both pages were scored exactly, and /metrics counted them under that path.
    const after = await retrievals();
    expect(after['image/exact']! - (before['image/exact'] ?? 0)).toBe(2);
    expect(after['image/hnsw-filtered'] ?? 0).toBe(before['image/hnsw-filtered'] ?? 0);
    const got = [...page1.edges, ...page2.edges];
    const trainIds = new Set(
      await t.app.repositories.images.filterIds({ metadata: { split: 'train' } }, 1000),
    );
    expect(trainIds.size).toBeLessThan(80);
    const expected = await exactImages('a small yellow circle', 12, (id) => trainIds.has(id));
    expect(got.map((e) => Number(e.node.id))).toEqual(expected.map((e) => e.id));
    expect(got.every((e) => e.node.metadata.split === 'train')).toBe(true);
  });

  it('large allowed set: filtered HNSW equals the exact filtered top-k', async () => {
    // exactThreshold 0 forces the HNSW-with-filter path for any filter.
    const strategies: string[] = [];
    const hnswEngine = new SearchEngine(t.app.engine.deps, {
      exactThreshold: 0,
      onRetrieve: (info) => strategies.push(info.strategy),
    });
    for (const filter of [
      { metadata: { split: 'train' } },
      { captionMatch: 'circle' },
      { maxBytes: 100_000, minWidth: 10 },
    ]) {
      const allowed = new Set(await t.app.repositories.images.filterIds(filter, 1000));
      const page = await hnswEngine.searchImages('a large red square', { first: 10, filter });
      const truth = await exactImages('a large red square', 10, (id) => allowed.has(id));
      expect(page.edges.map((e) => e.node.id)).toEqual(truth.map((e) => e.id));
    }
    expect(strategies).toEqual(['hnsw-filtered', 'hnsw-filtered', 'hnsw-filtered']);
  });

  it('captionMatch, size and date ranges narrow the results', async () => {
    const page = await searchImages({ text: 'a shape', first: 50, filter: { captionMatch: 'triangle' } });
    expect(page.edges.length).toBeGreaterThan(0);
    expect(page.edges.every((e) => e.node.captions.some((c) => /triangle/i.test(c.text)))).toBe(true);
    expect((await searchImages({ text: 'a shape', first: 5, filter: { minWidth: 65 } })).edges).toEqual([]);
    expect(
      (await searchImages({ text: 'a shape', first: 5, filter: { createdAfter: '2999-01-01T00:00:00Z' } }))
        .edges,
    ).toEqual([]);
    const before = await searchImages({
      text: 'a shape',
      first: 5,
      filter: { createdBefore: '2999-01-01T00:00:00Z' },
    });
    expect(before.edges).toHaveLength(5);
  });
});
