/**
 * Issue 9 item 7: captions added while their image is deleted must not stay live. Real concurrent
 * HTTP requests against a real server on each database backend; whatever order they interleave
 * in, the indexes must equal the committed live rows afterwards and searches must not come back
 * short.
 */
import { hnswOf } from '../setup/hnsw-of.ts';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceSkip, backends } from '../setup/databases.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const ADD_CAPTIONS = `mutation ($id: ID!, $c: [String!]!) { addCaptions(imageId: $id, captions: $c) { id } }`;
const ADD_IMAGE = `mutation ($b: String!, $c: [String!]) {
  addImage(input: { base64: $b, captions: $c }) { status addedCaptions { id } }
}`;
const DELETE = `mutation ($id: ID!) { deleteImage(id: $id) { deleted } }`;

/** What one request ended as: its data's shape, or its error codes. */
type Outcome = string;

describe.each(backends)('mutations racing a delete [$name]', (backend) => {
  const skip = announceSkip(backend, 'mutation race');
  let t: TestApp;

  beforeAll(async () => {
    if (skip) return;
    t = await startTestApp({
      n: 24,
      backend: backend.name,
      overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function outcome(query: string, variables: Record<string, unknown>): Promise<Outcome> {
    const r = await t.gql<Record<string, unknown>>(query, variables);
    if (r.errors) return codes(r).join(',');
    const data = Object.values(r.data!)[0] as Record<string, unknown> | unknown[];
    if (Array.isArray(data)) return 'captions';
    return 'status' in data ? String(data.status) : `deleted:${String(data.deleted)}`;
  }

  async function committedLive(): Promise<{ images: number[]; captions: number[] }> {
    const images = await t.app.db.query<{ id: number }>(
      'SELECT id FROM images WHERE deleted_at IS NULL ORDER BY id',
    );
    const captions = await t.app.db.query<{ id: number }>(
      'SELECT c.id FROM captions c JOIN images i ON i.id = c.image_id WHERE i.deleted_at IS NULL ORDER BY c.id',
    );
    return { images: images.map((r) => r.id), captions: captions.map((r) => r.id) };
  }

  it.skipIf(skip)(
    'after concurrent addCaptions, addImage of the same bytes and deleteImage, the indexes hold exactly the live rows',
    async () => {
      const images = await t.app.db.query<{ id: number; uri: string }>(
        'SELECT id, uri FROM images ORDER BY id',
      );
      const doomed = images.slice(0, 12);
      const kept = images.slice(12);
      const texts = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} note ${i}`);
      const ops: Promise<[string, Outcome]>[] = [];
      const run = (kind: string, query: string, variables: Record<string, unknown>) =>
        ops.push(outcome(query, variables).then((o) => [kind, o]));
      for (const [i, image] of doomed.entries()) {
        const base64 = (await readFile(fileURLToPath(image.uri))).toString('base64');
        const id = String(image.id);
        // A large add first (embedding takes a while), the delete, then a small add and a
        // re-upload of the same bytes racing both. The deletes are spread out so that some land
        // before, some during and some after the adds' transactions; what is asserted below holds
        // for every interleaving.
        run('addCaptions', ADD_CAPTIONS, { id, c: texts(`big ${i}`, 40) });
        ops.push(
          new Promise((resolve) => setTimeout(resolve, i * 15)).then(async () => [
            'deleteImage',
            await outcome(DELETE, { id }),
          ]),
        );
        run('addCaptions', ADD_CAPTIONS, { id, c: texts(`small ${i}`, 5) });
        run('addImage', ADD_IMAGE, { b: base64, c: [`again ${i}`] });
      }
      for (const image of kept)
        run('addCaptions', ADD_CAPTIONS, { id: String(image.id), c: texts('kept', 5) });
      const results = await Promise.all(ops);

      // Every request either did its work or was told the image is gone; nothing else.
      const allowed: Record<string, string[]> = {
        addCaptions: ['captions', 'NOT_FOUND'],
        deleteImage: ['deleted:true', 'deleted:false'],
        // A delete committed before the duplicate check: re-adding the bytes revives the image.
        addImage: ['DUPLICATE', 'INDEXED', 'NOT_FOUND'],
      };
      expect(results.filter(([kind, o]) => !allowed[kind]!.includes(o))).toEqual([]);
      expect(results.filter(([kind, o]) => kind === 'deleteImage' && o === 'deleted:true')).toHaveLength(12);

      const live = await committedLive();
      expect({
        images: hnswOf(t.app.indexes)
          .images.ids()
          .sort((a, b) => a - b),
        captions: hnswOf(t.app.indexes)
          .captions.ids()
          .sort((a, b) => a - b),
      }).toEqual(live);
      expect(live.captions.length).toBeGreaterThan(50);

      // No ghost takes a place in a page: the first page is full.
      const page = await t.gql<{
        searchCaptions: { edges: unknown[]; pageInfo: { hasNextPage: boolean } };
      }>(
        `query ($id: ID!) { searchCaptions(image: { id: $id }, first: 50) { edges { score } pageInfo { hasNextPage } } }`,
        { id: String(kept[0]!.id) },
      );
      expect({
        edges: page.data!.searchCaptions.edges.length,
        hasNextPage: page.data!.searchCaptions.pageInfo.hasNextPage,
      }).toEqual({ edges: 50, hasNextPage: true });
      expect((await t.gql<{ indexInfo: { captions: number } }>('{ indexInfo { captions } }')).data).toEqual({
        indexInfo: { captions: live.captions.length },
      });
    },
  );
});
