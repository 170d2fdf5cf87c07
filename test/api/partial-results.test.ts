/**
 * Issue 13, item 11: nullable root fields, so one failing alias answers null beside its error and
 * the others keep their data. Item 12: one caption rule and one limit for addImage and addCaptions.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CAPTIONS_PER_MUTATION } from '../../src/api/text-input.ts';
import { startTestApp, type TestApp } from './fixture.ts';

let t: TestApp;
let png: string;

beforeAll(async () => {
  t = await startTestApp({ n: 6, overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' } });
  png = (await readFile(path.join(t.samplesDir, t.manifest[0]!.image))).toString('base64');
});
afterAll(async () => t?.close());

const errorsOf = (r: { errors?: { message: string; path?: string[]; extensions?: { code?: string } }[] }) =>
  (r.errors ?? []).map((e) => ({ path: e.path, code: e.extensions?.code, message: e.message }));

describe('one failing root field (item 11)', () => {
  it('answers null with its error while the other aliases keep their data', async () => {
    const r = await t.gql<{ ok: { edges: unknown[] } | null; bad: unknown; info: { images: number } | null }>(
      `{ ok: searchImages(text: "a red circle", first: 2) { edges { score } }
         bad: searchImages(text: " ") { edges { score } }
         info: indexInfo { images } }`,
    );
    expect(r.status).toBe(200);
    expect(r.data!.ok!.edges).toHaveLength(2);
    expect(r.data!.bad).toBeNull();
    expect(r.data!.info).toEqual({ images: 6 });
    expect(errorsOf(r)).toEqual([
      { path: ['bad'], code: 'INVALID_INPUT', message: 'text must not be empty' },
    ]);
  });

  it('a failing mutation leaves the committed result of the one before it visible', async () => {
    const [row] = await t.app.db.query<{ id: number }>('SELECT id FROM images ORDER BY id LIMIT 1');
    const r = await t.gql<{ a: { text: string }[] | null; b: unknown }>(
      `mutation ($id: ID!) {
         a: addCaptions(imageId: $id, captions: ["kept beside a failure"]) { text }
         b: addCaptions(imageId: "999999", captions: ["no such image"]) { text }
       }`,
      { id: String(row!.id) },
    );
    expect(r.data).toEqual({ a: [{ text: 'kept beside a failure' }], b: null });
    expect(errorsOf(r)).toEqual([{ path: ['b'], code: 'NOT_FOUND', message: 'No image with id 999999' }]);
  });
});

describe('one caption rule for addImage and addCaptions (item 12)', () => {
  const ADD_IMAGE = `mutation ($b: String!, $c: [String!]) { addImage(input: { base64: $b, captions: $c }) { status } }`;
  const ADD_CAPTIONS = `mutation ($id: ID!, $c: [String!]!) { addCaptions(imageId: $id, captions: $c) { id } }`;
  let imageId: string;
  beforeAll(async () => {
    const [row] = await t.app.db.query<{ id: number }>('SELECT id FROM images ORDER BY id LIMIT 1');
    imageId = String(row!.id);
  });
  const uploads = async () => (await readdir(path.join(t.dataDir, 'uploads')).catch(() => [])).sort();
  const captionRows = async () =>
    Number((await t.app.db.query<{ n: string }>('SELECT count(*) AS n FROM captions'))[0]!.n);

  it('a blank caption is refused the same way by both, and nothing is written', async () => {
    const [rowsBefore, uploadsBefore] = [await captionRows(), await uploads()];
    const viaImage = await t.gql(ADD_IMAGE, { b: png, c: ['fine', '   '] });
    const viaCaptions = await t.gql(ADD_CAPTIONS, { id: imageId, c: ['fine', '   '] });
    const expected = [
      { path: undefined, code: 'INVALID_INPUT', message: 'captions[1] is blank; every caption needs text' },
    ];
    expect(errorsOf(viaImage).map((e) => ({ ...e, path: undefined }))).toEqual(expected);
    expect(errorsOf(viaCaptions).map((e) => ({ ...e, path: undefined }))).toEqual(expected);
    expect(await captionRows()).toBe(rowsBefore);
    expect(await uploads()).toEqual(uploadsBefore);
  });

  it(`more than ${MAX_CAPTIONS_PER_MUTATION} captions are LIMIT_EXCEEDED for both`, async () => {
    const many = Array.from({ length: MAX_CAPTIONS_PER_MUTATION + 1 }, (_, i) => `caption ${i}`);
    const message = `captions holds ${many.length} texts; the limit is ${MAX_CAPTIONS_PER_MUTATION} per request`;
    for (const r of [
      await t.gql(ADD_IMAGE, { b: png, c: many }),
      await t.gql(ADD_CAPTIONS, { id: imageId, c: many }),
    ]) {
      expect(errorsOf(r).map((e) => ({ code: e.code, message: e.message }))).toEqual([
        { code: 'LIMIT_EXCEEDED', message },
      ]);
    }
  });

  it('addCaptions needs at least one caption; addImage may have none', async () => {
    const none = await t.gql(ADD_CAPTIONS, { id: imageId, c: [] });
    expect(errorsOf(none).map((e) => e.message)).toEqual(['captions must hold at least 1 text']);
    const ok = await t.gql<{ addImage: { status: string } }>(ADD_IMAGE, { b: png, c: [] });
    expect(ok.data).toEqual({ addImage: { status: 'DUPLICATE' } });
  });
});
