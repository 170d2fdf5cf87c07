import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactTopK } from '../../src/search/retrieve.ts';
import { announceSkip, postgresBackend } from '../setup/databases.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const skip = announceSkip(postgresBackend, 'API on PostgreSQL');

describe.skipIf(skip)('the API on a real PostgreSQL server', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      backend: 'postgres',
      n: 40,
      overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('runs on postgres, not PGlite', () => {
    expect(t.app.db.kind).toBe('postgres');
  });

  it('filtered text -> image search equals the exact filtered top-k, paged', async () => {
    const q = `query ($a: String) { searchImages(text: "a red circle", first: 4, after: $a, filter: { metadata: { split: "train" } }) {
      edges { score node { id } } pageInfo { endCursor } } }`;
    const p1 = await t.gql<{
      searchImages: { edges: { node: { id: string } }[]; pageInfo: { endCursor: string } };
    }>(q);
    const p2 = await t.gql<{ searchImages: { edges: { node: { id: string } }[] } }>(q, {
      a: p1.data!.searchImages.pageInfo.endCursor,
    });
    const got = [...p1.data!.searchImages.edges, ...p2.data!.searchImages.edges].map((e) =>
      Number(e.node.id),
    );
    const allowed = new Set(
      await t.app.repositories.images.filterIds({ metadata: { split: 'train' } }, 1000),
    );
    const [query] = (await t.app.embedder.embedTexts(['a red circle'])).vectors;
    const rows = await t.app.repositories.vectors.scan('image', t.app.embedder.fingerprint, {
      afterId: 0,
      limit: 1000,
    });
    const truth = exactTopK(
      query!,
      new Map(rows.filter((r) => allowed.has(r.id)).map((r) => [r.id, r.vector])),
      8,
    );
    expect(got).toEqual(truth.map((h) => h.id));
  });

  it('hybrid caption search uses Postgres full text', async () => {
    const r = await t.gql<{ search: { edges: { node: { text: string } }[] } }>(
      `{ search(query: { text: "square" }, target: CAPTIONS, first: 3, options: { hybrid: {} }) { edges { node { ... on Caption { text } } } } }`,
    );
    expect(r.data!.search.edges.every((e) => /square/i.test(e.node.text))).toBe(true);
  });

  it('mutations work end to end', async () => {
    const b64 = (await readFile(path.join(t.samplesDir, t.manifest[0]!.image))).toString('base64');
    const dup = await t.gql<{ addImage: { status: string } }>(
      `mutation ($b: String!) { addImage(input: { base64: $b }) { status } }`,
      { b: b64 },
    );
    expect(dup.data!.addImage.status).toBe('DUPLICATE');
    const [id] = await t.app.repositories.images.filterIds({}, 1);
    const del = await t.gql<{ deleteImage: { deleted: boolean } }>(
      `mutation { deleteImage(id: "${id}") { deleted } }`,
    );
    expect(del.data!.deleteImage.deleted).toBe(true);
    expect(codes(await t.gql(`{ similarImages(image: { id: "${id}" }) { edges { score } } }`))).toEqual([
      'NOT_FOUND',
    ]);
  });
});
