import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startTestApp, type TestApp } from './fixture.ts';

let t: TestApp;
let firstImage: { id: number; file: string };

beforeAll(async () => {
  t = await startTestApp({ n: 60 });
  const [id] = await t.app.repositories.images.filterIds({}, 1);
  firstImage = { id: id!, file: path.join(t.samplesDir, t.manifest[0]!.image) };
});
afterAll(async () => {
  await t?.close();
});

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

describe('searchCaptions (image -> text)', () => {
  it('ranks captions for an indexed image by id, each with its image', async () => {
    const r = await t.gql<{
      searchCaptions: {
        edges: { score: number; node: { id: string; text: string; image: { id: string } } }[];
      };
    }>(
      `query ($id: ID!) { searchCaptions(image: { id: $id }, first: 5) { edges { score node { id text image { id captions { text } } } } } }`,
      { id: String(firstImage.id) },
    );
    expect(r.errors).toBeUndefined();
    const edges = r.data!.searchCaptions.edges;
    expect(edges).toHaveLength(5);
    expect(edges.every((e) => e.node.text.length > 0 && Number(e.node.image.id) > 0)).toBe(true);
    const scores = edges.map((e) => e.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('gives the same ranking for the same image sent as base64 bytes', async () => {
    const base64 = (await readFile(firstImage.file)).toString('base64');
    const q = `query ($image: ImageInput!) { searchCaptions(image: $image, first: 5) { edges { score node { id } } } }`;
    const byId = await t.gql<{ searchCaptions: { edges: { node: { id: string } }[] } }>(q, {
      image: { id: String(firstImage.id) },
    });
    const byBytes = await t.gql<{ searchCaptions: { edges: { node: { id: string } }[] } }>(q, {
      image: { base64: `data:image/png;base64,${base64}` },
    });
    expect(byBytes.errors).toBeUndefined();
    expect(byBytes.data!.searchCaptions.edges.map((e) => e.node.id)).toEqual(
      byId.data!.searchCaptions.edges.map((e) => e.node.id),
    );
  });
});

describe('similarImages (image -> image)', () => {
  it('leaves the query image out of its own results', async () => {
    const r = await t.gql<{ similarImages: { edges: { score: number; node: { id: string } }[] } }>(
      `query ($id: ID!) { similarImages(image: { id: $id }, first: 10) { edges { score node { id } } } }`,
      { id: String(firstImage.id) },
    );
    const ids = r.data!.similarImages.edges.map((e) => Number(e.node.id));
    expect(ids).toHaveLength(10);
    expect(ids).not.toContain(firstImage.id);
  });

  it('finds the image itself first when sent as bytes', async () => {
    const base64 = (await readFile(firstImage.file)).toString('base64');
    const r = await t.gql<{ similarImages: { edges: { score: number; node: { id: string } }[] } }>(
      `query ($b: String!) { similarImages(image: { base64: $b }, first: 3) { edges { score node { id } } } }`,
      { b: base64 },
    );
    expect(Number(r.data!.similarImages.edges[0]!.node.id)).toBe(firstImage.id);
    expect(r.data!.similarImages.edges[0]!.score).toBeCloseTo(1, 3);
  });
});

describe('composed search', () => {
  it('fuses text, image and negative text, targeting images or captions', async () => {
    const q = `query ($q: ComposedQuery!, $t: SearchTarget) {
      search(query: $q, target: $t, first: 4) {
        edges { score node { __typename ... on Image { id } ... on Caption { id text } } }
        pageInfo { hasNextPage endCursor }
      }
    }`;
    const images = await t.gql<{ search: { edges: { node: { __typename: string } }[] } }>(q, {
      q: {
        text: 'a red circle',
        image: { id: String(firstImage.id) },
        imageWeight: 0.5,
        negativeText: 'blue',
      },
      t: 'IMAGES',
    });
    expect(images.errors).toBeUndefined();
    expect(images.data!.search.edges.map((e) => e.node.__typename)).toEqual([
      'Image',
      'Image',
      'Image',
      'Image',
    ]);
    const captions = await t.gql<{ search: { edges: { node: { __typename: string } }[] } }>(q, {
      q: { text: 'a red circle' },
      t: 'CAPTIONS',
    });
    expect(captions.data!.search.edges.map((e) => e.node.__typename)).toEqual([
      'Caption',
      'Caption',
      'Caption',
      'Caption',
    ]);
  });

  it('a text-only composed query equals searchImages', async () => {
    const a = await t.gql<{ search: { edges: { node: { id: string } }[] } }>(
      `{ search(query: { text: "a green square" }, first: 5) { edges { node { ... on Image { id } } } } }`,
    );
    const b = await t.gql<{ searchImages: { edges: { node: { id: string } }[] } }>(
      `{ searchImages(text: "a green square", first: 5) { edges { node { id } } } }`,
    );
    expect(a.data!.search.edges.map((e) => e.node.id)).toEqual(
      b.data!.searchImages.edges.map((e) => e.node.id),
    );
  });

  it('refuses a query with nothing positive in it', async () => {
    const r = await t.gql(`{ search(query: { negativeText: "red" }) { edges { score } } }`);
    expect(codes(r)).toEqual(['INVALID_INPUT']);
    const r2 = await t.gql(`{ search(query: { text: "red", textWeight: 0 }) { edges { score } } }`);
    expect(codes(r2)).toEqual(['INVALID_INPUT']);
  });
});

describe('hybrid and near-duplicate options', () => {
  it('hybrid scores each caption cosine + keyword score, so keyword matches rise', async () => {
    type Edges = {
      search: {
        edges: { score: number; node: { id: string; text: string } }[];
        pageInfo: { endCursor: string };
      };
    };
    const query = (args: string) =>
      t.gql<Edges>(
        `{ search(query: { text: "triangle" }, target: CAPTIONS${args}) {
            edges { score node { ... on Caption { id text } } } pageInfo { endCursor } } }`,
      );
    const r = await query(', first: 10, options: { hybrid: {} }');
    expect(r.errors).toBeUndefined();
    // Expected from the parts: every caption's cosine (plain search, all 120) plus its keyword score.
    const page1 = (await query(', first: 100')).data!.search;
    const page2 = (await query(`, first: 100, after: "${page1.pageInfo.endCursor}"`)).data!.search;
    const plain = [...page1.edges, ...page2.edges];
    expect(plain).toHaveLength(120);
    const keyword = new Map(
      (await t.app.repositories.captions.keywordScores('triangle', { limit: 1000 })).map((k) => [
        k.id,
        k.score,
      ]),
    );
    const expected = plain
      .map((e) => ({ id: e.node.id, score: Math.fround(e.score + (keyword.get(Number(e.node.id)) ?? 0)) }))
      .sort((a, b) => b.score - a.score || Number(a.id) - Number(b.id))
      .slice(0, 10);
    expect(r.data!.search.edges.map((e) => ({ id: e.node.id, score: e.score }))).toEqual(expected);
    // One match of the keyword scores 0.5; the fixture has more than 10 triangle captions.
    expect(r.data!.search.edges.every((e) => /triangle/i.test(e.node.text))).toBe(true);
    // rrfK is deprecated and ignored: the same page with it.
    const withRrfK = await query(', first: 10, options: { hybrid: { rrfK: 5 } }');
    expect(withRrfK.data).toEqual(r.data);
  });

  it('hybrid on images ranks images by their best caption', async () => {
    const r = await t.gql<{ searchImages: { edges: { node: { captions: { text: string }[] } }[] } }>(
      `{ searchImages(text: "circle", first: 3, options: { hybrid: {} }) { edges { node { captions { text } } } } }`,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!.searchImages.edges.every((e) => e.node.captions.some((c) => /circle/i.test(c.text)))).toBe(
      true,
    );
  });

  it('collapsing leaves no two hits closer than the threshold', async () => {
    const q = (collapse: boolean) =>
      t.gql<{ searchImages: { edges: { node: { id: string } }[] } }>(
        `query ($c: Boolean) { searchImages(text: "a shape", first: 40, options: { collapseDuplicates: $c, duplicateThreshold: 0.9 }) { edges { node { id } } } }`,
        { c: collapse },
      );
    const plain = (await q(false)).data!.searchImages.edges.map((e) => Number(e.node.id));
    const collapsed = (await q(true)).data!.searchImages.edges.map((e) => Number(e.node.id));
    const vectors = await t.app.repositories.vectors.get('image', t.app.embedder.fingerprint, plain);
    const duplicates = plain.filter((id, i) =>
      plain.slice(0, i).some((j) => cosine(vectors.get(id)!, vectors.get(j)!) >= 0.9),
    );
    expect(collapsed.length).toBeLessThanOrEqual(plain.length);
    const cv = await t.app.repositories.vectors.get('image', t.app.embedder.fingerprint, collapsed);
    for (let i = 0; i < collapsed.length; i++) {
      for (let j = 0; j < i; j++)
        expect(cosine(cv.get(collapsed[i]!)!, cv.get(collapsed[j]!)!)).toBeLessThan(0.9);
    }
    if (duplicates.length > 0) expect(collapsed).not.toContain(duplicates[0]);
  });
});

describe('lookups', () => {
  it('image(id) hydrates one image; unknown ids are null', async () => {
    const r = await t.gql<{
      image: { id: string; captions: { text: string; image: { id: string } }[] } | null;
      missing: null;
    }>(
      `query ($id: ID!) { image(id: $id) { id captions { text image { id } } } missing: image(id: "999999") { id } }`,
      { id: String(firstImage.id) },
    );
    expect(r.data!.image!.id).toBe(String(firstImage.id));
    expect(r.data!.image!.captions.map((c) => c.text)).toEqual(t.manifest[0]!.captions);
    expect(r.data!.image!.captions.every((c) => c.image.id === String(firstImage.id))).toBe(true);
    expect(r.data!.missing).toBeNull();
    expect(codes(await t.gql(`{ image(id: "abc") { id } }`))).toEqual(['INVALID_INPUT']);
  });

  it('images(filter, first, after) pages through live images in id order', async () => {
    const ids: number[] = [];
    let after: string | null = null;
    for (;;) {
      const r: {
        data?: {
          images: {
            edges: { node: { id: string } }[];
            pageInfo: { hasNextPage: boolean; endCursor: string };
          };
        };
      } = await t.gql(
        `query ($a: String) { images(first: 25, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
        {
          a: after,
        },
      );
      ids.push(...r.data!.images.edges.map((e) => Number(e.node.id)));
      if (!r.data!.images.pageInfo.hasNextPage) break;
      after = r.data!.images.pageInfo.endCursor;
    }
    expect(ids).toHaveLength(60);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const filtered = await t.gql<{ images: { edges: { node: { metadata: { split: string } } }[] } }>(
      `{ images(first: 100, filter: { metadata: { split: "train" } }) { edges { node { metadata } } } }`,
    );
    expect(filtered.data!.images.edges.length).toBeGreaterThan(0);
    expect(filtered.data!.images.edges.every((e) => e.node.metadata.split === 'train')).toBe(true);
  });

  it('indexInfo reports counts, models, fingerprints, dims and index parameters', async () => {
    const r = await t.gql<{ indexInfo: Record<string, unknown> }>(
      `{ indexInfo { images captions profile modelFingerprint textEncoder imageEncoder projection projectionTrained dims
          indexes { kind count dims fingerprint type m efConstruction ef }
          limits { maxFirst maxQueryText maxImageBytes maxImagePixels maxQueryDepth maxQueryComplexity maxPagingWindow } } }`,
    );
    expect(r.data!.indexInfo).toMatchObject({
      images: 60,
      captions: 120,
      profile: 'tiny',
      modelFingerprint: t.app.embedder.fingerprint,
      dims: t.app.embedder.dims,
      indexes: [
        { kind: 'image', count: 60, type: 'hnsw', m: 16, efConstruction: 200, ef: 64 },
        { kind: 'caption', count: 120, type: 'hnsw', m: 16 },
      ],
      limits: { maxFirst: 100, maxPagingWindow: 1000 },
    });
  });
});
