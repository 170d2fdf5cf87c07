/**
 * `VECTOR_BACKEND=pgvector` serves the same search page and the same queries as the default HNSW
 * backend, over real HTTP. pgvector here is PGlite's WASM build (the embedded database); Debian 12
 * has no pgvector package for the PostgreSQL server, which is checked to refuse it clearly.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { openVectorBackend } from '../../src/store/vector/backend.ts';
import { openPgDb } from '../../src/store/pg-db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { announceSkip, createPostgresDatabase, postgresBackend } from '../setup/databases.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

/** A window smaller than the collection, so pgvector answers from its HNSW graph, not exactly. */
const engine = { maxWindow: 30 };
let hnsw: TestApp;
let pgvector: TestApp;

beforeAll(async () => {
  hnsw = await startTestApp({ n: 80, engine, overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' } });
  pgvector = await startTestApp({
    n: 80,
    engine,
    overrides: { VECTOR_BACKEND: 'pgvector', ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' },
  });
}, 240_000);
afterAll(async () => {
  await hnsw?.close();
  await pgvector?.close();
});

const SEARCH = `query ($text: String!, $first: Int!, $after: String, $filter: ImageFilter) {
  searchImages(text: $text, first: $first, after: $after, filter: $filter) {
    edges { score node { uri } } pageInfo { hasNextPage endCursor } } }`;

type Page = {
  searchImages: {
    edges: { score: number; node: { uri: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
};

/** Every page of a search, 7 at a time: uris and scores in order. */
async function allPages(t: TestApp, text: string, filter?: unknown) {
  const out: { uri: string; score: number }[] = [];
  let after: string | null = null;
  for (;;) {
    const r: { data?: Page; errors?: unknown } = await t.gql<Page>(SEARCH, { text, first: 7, after, filter });
    expect(r.errors).toBeUndefined();
    const page = r.data!.searchImages;
    out.push(...page.edges.map((e) => ({ uri: e.node.uri, score: e.score })));
    if (!page.pageInfo.hasNextPage) return out;
    after = page.pageInfo.endCursor;
  }
}

/** Same uris in the same order (ids differ between two data directories); scores to float32. */
function expectSameRanking(got: { uri: string; score: number }[], want: { uri: string; score: number }[]) {
  expect(got.map((h) => h.uri)).toEqual(want.map((h) => h.uri));
  got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i]!.score, 5));
}

describe('VECTOR_BACKEND=pgvector over HTTP (pgvector on PGlite)', () => {
  it('serves the same search page', async () => {
    const [a, b] = await Promise.all([fetch(`${hnsw.url}/`), fetch(`${pgvector.url}/`)]);
    expect(b.status).toBe(200);
    expect(await b.text()).toBe(await a.text());
  });

  it('reports pgvector in indexInfo, with the same counts', async () => {
    const query = `{ indexInfo { images captions indexes { kind count type m efConstruction ef } } }`;
    const a = await hnsw.gql<{ indexInfo: Record<string, unknown> }>(query);
    const b = await pgvector.gql<{ indexInfo: Record<string, unknown> }>(query);
    expect(a.data!.indexInfo).toMatchObject({ images: 80, captions: 160 });
    expect(b.data!.indexInfo).toEqual({
      images: 80,
      captions: 160,
      indexes: [
        { kind: 'image', count: 80, type: 'pgvector', m: 16, efConstruction: 200, ef: 64 },
        { kind: 'caption', count: 160, type: 'pgvector', m: 16, efConstruction: 200, ef: 64 },
      ],
    });
  });

  it('answers text searches, filtered or not, page by page, as the default backend does', async () => {
    for (const [text, filter] of [
      ['a red circle', undefined],
      ['a small blue square', { metadata: { split: 'train' } }],
      ['a shape', { captionMatch: 'triangle' }],
    ] as const) {
      const want = await allPages(hnsw, text, filter);
      expect(want.length).toBeGreaterThan(0);
      expectSameRanking(await allPages(pgvector, text, filter), want);
    }
  });

  it('answers image -> text and image -> image as the default backend does', async () => {
    const pick = async (t: TestApp) =>
      (
        await t.gql<{ images: { edges: { node: { id: string; uri: string } }[] } }>(
          `{ images(first: 80) { edges { node { id uri } } } }`,
        )
      ).data!.images.edges.map((e) => e.node);
    const [a, b] = [await pick(hnsw), await pick(pgvector)];
    const uri = a[5]!.uri;
    const idOf = (nodes: { id: string; uri: string }[]) => nodes.find((n) => n.uri === uri)!.id;
    const similar = `query ($id: ID!) { similarImages(image: { id: $id }, first: 10) { edges { score node { uri } } } }`;
    const captions = `query ($id: ID!) { searchCaptions(image: { id: $id }, first: 10) { edges { score node { text image { uri } } } } }`;
    type S = { similarImages: { edges: { score: number; node: { uri: string } }[] } };
    type C = {
      searchCaptions: { edges: { score: number; node: { text: string; image: { uri: string } } }[] };
    };
    const sa = await hnsw.gql<S>(similar, { id: idOf(a) });
    const sb = await pgvector.gql<S>(similar, { id: idOf(b) });
    expectSameRanking(
      sb.data!.similarImages.edges.map((e) => ({ uri: e.node.uri, score: e.score })),
      sa.data!.similarImages.edges.map((e) => ({ uri: e.node.uri, score: e.score })),
    );
    const ca = await hnsw.gql<C>(captions, { id: idOf(a) });
    const cb = await pgvector.gql<C>(captions, { id: idOf(b) });
    const key = (e: C['searchCaptions']['edges'][number]) => ({
      uri: `${e.node.image.uri}#${e.node.text}`,
      score: e.score,
    });
    expectSameRanking(cb.data!.searchCaptions.edges.map(key), ca.data!.searchCaptions.edges.map(key));
  });

  it('finds an image added through the API at once, and never after it is deleted', async () => {
    const png = (
      await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 250, g: 250, b: 10 } } })
        .png()
        .toBuffer()
    ).toString('base64');
    const added = await pgvector.gql<{ addImage: { image: { id: string } } }>(
      `mutation ($b: String!) { addImage(input: { base64: $b, captions: ["a bright yellow square"] }) { image { id } } }`,
      { b: png },
    );
    expect(added.errors).toBeUndefined();
    const id = added.data!.addImage.image.id;
    const similar = `query ($b: String!) { similarImages(image: { base64: $b }, first: 1) { edges { score node { id } } } }`;
    const found = await pgvector.gql<{ similarImages: { edges: { score: number; node: { id: string } }[] } }>(
      similar,
      { b: png },
    );
    expect(found.data!.similarImages.edges.map((e) => e.node.id)).toEqual([id]);
    expect(found.data!.similarImages.edges[0]!.score).toBeCloseTo(1, 4);
    const deleted = await pgvector.gql(`mutation ($id: ID!) { deleteImage(id: $id) { deleted } }`, { id });
    expect(deleted.data).toEqual({ deleteImage: { deleted: true } });
    const after = await pgvector.gql<{ similarImages: { edges: { node: { id: string } }[] } }>(similar, {
      b: png,
    });
    expect(after.data!.similarImages.edges.map((e) => e.node.id)).not.toContain(id);
    expect(codes(after)).toEqual([]);
  });
});

describe('VECTOR_BACKEND=pgvector on a PostgreSQL server without pgvector', () => {
  const skip = announceSkip(postgresBackend, 'pgvector start-up check');
  it.skipIf(skip)('refuses at start with VECTOR_BACKEND_UNAVAILABLE, naming the fix', async () => {
    const { url, drop } = await createPostgresDatabase();
    const db = await openPgDb(url);
    try {
      await migrate(db);
      const config = loadConfig({ env: { VECTOR_BACKEND: 'pgvector', DATABASE_URL: url } });
      const opening = openVectorBackend({ config, db, fingerprint: 'fp', dims: 8, logger: silentLogger });
      await expect(opening).rejects.toMatchObject({
        code: 'VECTOR_BACKEND_UNAVAILABLE',
        message: expect.stringMatching(/install pgvector >= 0\.8\.0 .*or use VECTOR_BACKEND=hnsw/),
      });
    } finally {
      await db.close();
      await drop();
    }
  });
});
