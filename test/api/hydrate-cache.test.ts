import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './fixture.ts';

// The hydration cache through the real server: each mutation of this process shows in the next
// read; a change it did not make (another process) shows once the entry expires or is forgotten.

const KEY = 'test-api-key-123';
const auth = { authorization: `Bearer ${KEY}` };
const IMAGE = `query ($id: ID!) { image(id: $id) { id metadata captions { text } } }`;

interface ImageResult {
  image: { id: string; metadata: Record<string, unknown>; captions: { text: string }[] } | null;
}

let t: TestApp;
beforeAll(async () => {
  // A TTL far beyond the test: only forgetting can refresh an entry.
  t = await startTestApp({ n: 12, overrides: { API_KEY: KEY, HYDRATE_CACHE_TTL_MS: 3_600_000 } });
});
afterAll(async () => {
  await t?.close();
});

describe('hydration cache', () => {
  it('shows captions added and images deleted through the API at once', async () => {
    const [id] = await t.app.repositories.images.filterIds({}, 1);
    const before = await t.gql<ImageResult>(IMAGE, { id: String(id) });
    const captions = before.data!.image!.captions.map((c) => c.text);
    expect(captions.length).toBeGreaterThan(0);

    const added = await t.gql(
      `mutation ($id: ID!) { addCaptions(imageId: $id, captions: ["a cached kite"]) { id } }`,
      { id: String(id) },
      auth,
    );
    expect(added.errors).toBeUndefined();
    const after = await t.gql<ImageResult>(IMAGE, { id: String(id) });
    expect(after.data!.image!.captions.map((c) => c.text)).toEqual([...captions, 'a cached kite']);

    const deleted = await t.gql(
      `mutation ($id: ID!) { deleteImage(id: $id) { deleted } }`,
      { id: String(id) },
      auth,
    );
    expect(deleted.errors).toBeUndefined();
    expect((await t.gql<ImageResult>(IMAGE, { id: String(id) })).data!.image).toBeNull();
  });

  it('shows an image re-added after deletion with its new metadata', async () => {
    const line = t.manifest[5]!;
    const b64 = (await readFile(path.join(t.samplesDir, line.image))).toString('base64');
    const add = `mutation ($b: String!, $m: JSON) { addImage(input: { base64: $b, metadata: $m }) { image { id metadata } } }`;
    const first = await t.gql<{ addImage: { image: { id: string } } }>(
      add,
      { b: b64, m: { round: 1 } },
      auth,
    );
    const id = first.data!.addImage.image.id;
    await t.gql<ImageResult>(IMAGE, { id }); // cached now
    await t.gql(`mutation ($id: ID!) { deleteImage(id: $id) { deleted } }`, { id }, auth);
    const again = await t.gql<{ addImage: { image: { id: string } } }>(
      add,
      { b: b64, m: { round: 2 } },
      auth,
    );
    expect(again.data!.addImage.image.id).toBe(id);
    expect((await t.gql<ImageResult>(IMAGE, { id })).data!.image!.metadata).toMatchObject({ round: 2 });
  });

  it('serves a row another process deleted until the entry is forgotten', async () => {
    const [, id] = await t.app.repositories.images.filterIds({}, 2);
    expect((await t.gql<ImageResult>(IMAGE, { id: String(id) })).data!.image!.id).toBe(String(id));
    // Straight to the database, as another process sharing it would: this process is not told.
    expect(await t.app.repositories.images.softDelete(id!)).toBe(true);
    expect((await t.gql<ImageResult>(IMAGE, { id: String(id) })).data!.image!.id).toBe(String(id));
    t.app.engine.forgetImages([id!]);
    expect((await t.gql<ImageResult>(IMAGE, { id: String(id) })).data!.image).toBeNull();
  });
});
