import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const KEY = 'test-api-key-123';
const auth = { authorization: `Bearer ${KEY}` };
const ADD = `mutation ($input: AddImageInput!) {
  addImage(input: $input) {
    status
    image { id uri sourcePath width height format metadata captions { id text } }
    addedCaptions { id text }
  }
}`;

let t: TestApp;
let png: string;

beforeAll(async () => {
  t = await startTestApp({ n: 20, overrides: { API_KEY: KEY } });
  png = (
    await sharp({ create: { width: 80, height: 60, channels: 3, background: { r: 200, g: 30, b: 160 } } })
      .png()
      .toBuffer()
  ).toString('base64');
});
afterAll(async () => {
  await t?.close();
});

describe('mutations with an API key configured', () => {
  it('refuse callers without the key, or with a wrong one', async () => {
    const none = await t.gql(ADD, { input: { base64: png } });
    expect(codes(none)).toEqual(['UNAUTHENTICATED']);
    expect(none.errors![0]!.message).toMatch(/Authorization: Bearer/);
    const wrong = await t.gql(ADD, { input: { base64: png } }, { authorization: 'Bearer nope' });
    expect(codes(wrong)).toEqual(['UNAUTHENTICATED']);
    const del = await t.gql(
      `mutation { deleteImage(id: "1") { deleted } }`,
      {},
      { authorization: 'Basic abc' },
    );
    expect(codes(del)).toEqual(['UNAUTHENTICATED']);
  });

  it('addImage indexes a new image, searchable at once; the same bytes again are a duplicate', async () => {
    const r = await t.gql<{
      addImage: {
        status: string;
        image: Record<string, unknown> & { id: string; captions: { text: string }[] };
      };
    }>(
      ADD,
      {
        input: {
          base64: png,
          captions: ['  a magenta rectangle '],
          metadata: { source: 'test' },
          filename: 'm.png',
        },
      },
      auth,
    );
    expect(r.errors).toBeUndefined();
    const added = r.data!.addImage;
    expect(added.status).toBe('INDEXED');
    expect(added.image).toMatchObject({
      width: 80,
      height: 60,
      format: 'png',
      metadata: { source: 'test', filename: 'm.png' },
    });
    expect(added.image.captions.map((c) => c.text)).toEqual(['a magenta rectangle']);
    // Anyone sees the upload's name (its sha256); only the operator its server path (issue 13, item 16).
    expect(String(added.image.uri)).toMatch(/^[0-9a-f]{64}$/);
    expect(added.image.sourcePath).toBe(`file://${path.join(t.dataDir, 'uploads', String(added.image.uri))}`);

    const similar = await t.gql<{ similarImages: { edges: { score: number; node: { id: string } }[] } }>(
      `query ($b: String!) { similarImages(image: { base64: $b }, first: 1) { edges { score node { id } } } }`,
      { b: png },
    );
    expect(similar.data!.similarImages.edges[0]!.node.id).toBe(added.image.id);
    const filtered = await t.gql<{ searchImages: { edges: { node: { id: string } }[] } }>(
      `{ searchImages(text: "magenta", first: 5, filter: { metadata: { source: "test" } }) { edges { node { id } } } }`,
    );
    expect(filtered.data!.searchImages.edges.map((e) => e.node.id)).toEqual([added.image.id]);

    const again = await t.gql<{ addImage: { status: string; image: { id: string } } }>(
      ADD,
      { input: { base64: png } },
      auth,
    );
    expect(again.data!.addImage).toEqual({
      status: 'DUPLICATE',
      image: expect.objectContaining({ id: added.image.id }),
      addedCaptions: [],
    });
  });

  it('addImage of stored bytes attaches the captions the image lacks and keeps its metadata', async () => {
    const first = await t.gql<{ addImage: { image: { id: string } } }>(
      ADD,
      { input: { base64: png, captions: ['a magenta rectangle'], metadata: { source: 'test' } } },
      auth,
    );
    const id = first.data!.addImage.image.id;
    const r = await t.gql<{
      addImage: {
        status: string;
        image: { id: string; metadata: unknown; captions: { text: string }[] };
        addedCaptions: { id: string; text: string }[];
      };
    }>(
      ADD,
      {
        input: {
          base64: png,
          captions: ['a magenta rectangle', 'a pink card on white', 'a pink card on white'],
          metadata: { source: 'elsewhere' },
          filename: 'other.png',
        },
      },
      auth,
    );
    expect(r.errors).toBeUndefined();
    const { status, image, addedCaptions } = r.data!.addImage;
    expect({ status, id: image.id, metadata: image.metadata }).toEqual({
      status: 'DUPLICATE',
      id,
      metadata: { source: 'test', filename: 'm.png' },
    });
    expect(addedCaptions).toEqual([{ id: expect.any(String), text: 'a pink card on white' }]);
    expect(image.captions.map((c) => c.text)).toEqual(['a magenta rectangle', 'a pink card on white']);
    const found = await t.gql<{ searchCaptions: { edges: { node: { id: string } }[] } }>(
      `query ($id: ID!) { searchCaptions(image: { id: $id }, first: 100) { edges { node { id } } } }`,
      { id },
    );
    expect(found.data!.searchCaptions.edges.map((e) => e.node.id)).toContain(addedCaptions[0]!.id);

    const thumb = await fetch(`${t.url}/media/${id}/thumbnail`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
  });

  it('addCaptions stores and indexes captions that image -> text search then finds', async () => {
    const [id] = await t.app.repositories.images.filterIds({}, 1);
    const r = await t.gql<{ addCaptions: { id: string; text: string; image: { id: string } }[] }>(
      `mutation ($id: ID!) { addCaptions(imageId: $id, captions: ["zebra stripes on a kite", "another note"]) { id text image { id } } }`,
      { id: String(id) },
      auth,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!.addCaptions.map((c) => c.text)).toEqual(['zebra stripes on a kite', 'another note']);
    const hybrid = await t.gql<{ search: { edges: { node: { id: string } }[] } }>(
      `{ search(query: { text: "zebra kite" }, target: CAPTIONS, first: 1, options: { hybrid: {} }) { edges { node { ... on Caption { id } } } } }`,
    );
    expect(hybrid.data!.search.edges[0]!.node.id).toBe(r.data!.addCaptions[0]!.id);
    const missing = await t.gql(
      `mutation { addCaptions(imageId: "999999", captions: ["x"]) { id } }`,
      {},
      auth,
    );
    expect(codes(missing)).toEqual(['NOT_FOUND']);
    const empty = await t.gql(`mutation { addCaptions(imageId: "${id}", captions: []) { id } }`, {}, auth);
    expect(codes(empty)).toEqual(['INVALID_INPUT']);
  });

  it('deleteImage removes the image and its captions from every result', async () => {
    const file = path.join(t.samplesDir, t.manifest[3]!.image);
    const b64 = (await readFile(file)).toString('base64');
    const before = await t.gql<{ similarImages: { edges: { node: { id: string } }[] } }>(
      `query ($b: String!) { similarImages(image: { base64: $b }, first: 1) { edges { node { id } } } }`,
      { b: b64 },
    );
    const id = before.data!.similarImages.edges[0]!.node.id;
    const del = await t.gql<{ deleteImage: { id: string; deleted: boolean } }>(
      `mutation ($id: ID!) { deleteImage(id: $id) { id deleted } }`,
      { id },
      auth,
    );
    expect(del.data!.deleteImage).toEqual({ id, deleted: true });
    const again = await t.gql<{ deleteImage: { deleted: boolean } }>(
      `mutation ($id: ID!) { deleteImage(id: $id) { deleted } }`,
      { id },
      auth,
    );
    expect(again.data!.deleteImage.deleted).toBe(false);
    const after = await t.gql<{
      image: null;
      similarImages: { edges: { node: { id: string } }[] };
      searchCaptions: { edges: { node: { image: { id: string } } }[] };
    }>(
      `query ($id: ID!, $b: String!) {
        image(id: $id) { id }
        similarImages(image: { base64: $b }, first: 50) { edges { node { id } } }
        searchCaptions(image: { base64: $b }, first: 50) { edges { node { image { id } } } }
      }`,
      { id, b: b64 },
    );
    expect(after.data!.image).toBeNull();
    expect(after.data!.similarImages.edges.map((e) => e.node.id)).not.toContain(id);
    expect(after.data!.searchCaptions.edges.map((e) => e.node.image.id)).not.toContain(id);
    const byId = await t.gql(`query ($id: ID!) { similarImages(image: { id: $id }) { edges { score } } }`, {
      id,
    });
    expect(codes(byId)).toEqual(['NOT_FOUND']);
  });

  it('addImage refuses bytes that are not an image, and oversized input', async () => {
    const junk = await t.gql(
      ADD,
      { input: { base64: Buffer.from('not an image at all').toString('base64') } },
      auth,
    );
    expect(codes(junk)).toEqual(['INVALID_IMAGE']);
    const bad = await t.gql(ADD, { input: { base64: '***' } }, auth);
    expect(codes(bad)).toEqual(['INVALID_INPUT']);
    const meta = await t.gql(ADD, { input: { base64: png, metadata: [1, 2] } }, auth);
    expect(codes(meta)).toEqual(['INVALID_INPUT']);
  });
});

describe('mutations without an API key', () => {
  it('are refused with a message naming API_KEY unless explicitly allowed', async () => {
    const closed = await startTestApp({ n: 2 });
    try {
      const r = await closed.gql(ADD, { input: { base64: png } });
      expect(codes(r)).toEqual(['FORBIDDEN']);
      expect(r.errors![0]!.message).toMatch(/set API_KEY/);
    } finally {
      await closed.close();
    }
    const open = await startTestApp({ n: 2, overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' } });
    try {
      const r = await open.gql<{ addImage: { status: string } }>(ADD, { input: { base64: png } });
      expect(r.errors).toBeUndefined();
      expect(r.data!.addImage.status).toBe('INDEXED');
    } finally {
      await open.close();
    }
  });

  it('a read-only server refuses mutations even when allowed', async () => {
    const ro = await startTestApp({
      n: 2,
      readOnly: true,
      overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' },
    });
    try {
      expect(codes(await ro.gql(`mutation { deleteImage(id: "1") { deleted } }`))).toEqual(['FORBIDDEN']);
    } finally {
      await ro.close();
    }
  });
});
