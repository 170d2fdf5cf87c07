/**
 * Hostile requests over real HTTP: each is answered quickly with LIMIT_EXCEEDED, and a watchdog in
 * a child process sees `/healthz` answer throughout (the server's event loop never stalls).
 */
import {
  Kind,
  getIntrospectionQuery,
  parse,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureOperation } from '../../src/api/query-limits.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';
import { startWatchdog } from './watchdog.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ n: 12, overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' } });
});
afterAll(async () => {
  await t?.close();
});

/** Sends `query` while the watchdog polls; returns the answer and what the watchdog saw. */
async function hostile(query: string, variables?: Record<string, unknown>) {
  const watchdog = await startWatchdog(t.url);
  const result = await t.gql(query, variables);
  const health = await watchdog.stop();
  return { result, health };
}

function expectHealthy(health: { polls: number; failures: string[] }): void {
  expect(health.failures).toEqual([]);
  expect(health.polls).toBeGreaterThan(0);
}

describe('fragments', () => {
  it('a fragment spread twice at each of 25 levels is measured once per fragment and refused', async () => {
    const fragments = Array.from({ length: 25 }, (_, i) =>
      i === 24 ? `fragment F24 on Image { id }` : `fragment F${i} on Image { ...F${i + 1} ...F${i + 1} }`,
    );
    const query = `{ images(first: 1) { edges { node { ...F0 } } } } ${fragments.join(' ')}`;
    const { result, health } = await hostile(query);
    expect(codes(result)).toEqual(['LIMIT_EXCEEDED']);
    expect(result.errors![0]!.message).toMatch(/complexity \d+ exceeds the limit of 5000/);
    expectHealthy(health);
  });

  it('a fragment cycle is refused by the measurement itself, not walked forever', () => {
    const doc = parse(`{ a { ...A } } fragment A on T { b { ...B } } fragment B on T { c { ...A } }`);
    const op = doc.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION) as OperationDefinitionNode;
    const fragments = Object.fromEntries(
      doc.definitions
        .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]),
    );
    expect(() => measureOperation(op, fragments, {})).toThrow(/Fragment A spreads itself/);
  });
});

describe('query text', () => {
  it('a 400k-character filter.captionMatch is refused before it reaches the database', async () => {
    const { result, health } = await hostile(
      `query ($m: String!) { images(filter: { captionMatch: $m }) { edges { cursor } } }`,
      { m: 'red circle '.repeat(40_000) },
    );
    expect(codes(result)).toEqual(['LIMIT_EXCEEDED']);
    expect(result.errors![0]!.message).toBe(
      'The query text of this request totals 440000 characters, over the limit of 1000',
    );
    expectHealthy(health);
  });

  it('all query text of a request counts against one MAX_QUERY_TEXT', async () => {
    const q = `query ($t: String!, $k: String!) {
      a: searchImages(text: $t, first: 1) { edges { score } }
      b: images(first: 1, filter: { captionMatch: $t }) { edges { cursor } }
      c: search(query: { text: $t, negativeText: $t }, options: { hybrid: { keywords: $k } }, first: 1) {
        edges { score }
      }
    }`;
    // Five texts of 200 characters: exactly the limit.
    const at = await t.gql(q, { t: 'x'.repeat(200), k: 'y'.repeat(200) });
    expect(at.errors).toBeUndefined();
    const over = await t.gql(q, { t: 'x'.repeat(200), k: 'y'.repeat(201) });
    expect(codes(over)).toEqual(['LIMIT_EXCEEDED']);
    expect(over.errors![0]!.message).toBe(
      'The query text of this request totals 1001 characters, over the limit of 1000',
    );
  });
});

describe('cost', () => {
  const aliases = (n: number, field: string) =>
    Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ');

  it('an omitted first counts as its default (20 for images), not as 1', async () => {
    // Per alias: 1 + 20 x 17 (edges 1, node 1, 4 scalars, captions 1 + 2 + image 1 + 4 + captions 3).
    const images = `images { edges { node { id uri width height
      captions { id text image { id uri width height captions { id text } } } } } }`;
    const { result, health } = await hostile(`{ ${aliases(20, images)} }`);
    expect(codes(result)).toEqual(['LIMIT_EXCEEDED']);
    expect(result.errors![0]!.message).toBe('Query complexity 6820 exceeds the limit of 5000');
    expectHealthy(health);
  });

  it('1,600 aliased searches are refused by the root-field cap', async () => {
    const { result, health } = await hostile(
      `{ ${aliases(1600, 'searchImages(text: "a", first: 1) { edges { score } }')} }`,
    );
    expect(codes(result)).toEqual(['LIMIT_EXCEEDED']);
    expect(result.errors![0]!.message).toBe('The operation selects 1600 root fields, over the limit of 20');
    expectHealthy(health);
  });

  it('introspection is counted: one full introspection passes, 20 aliased __schema do not', async () => {
    const full = await t.gql<{ __schema: { types: unknown[] } }>(getIntrospectionQuery());
    expect(full.errors).toBeUndefined();
    expect(full.data!.__schema.types.length).toBeGreaterThan(20);
    const schema = `__schema { types { name kind fields { name args { name } type { name kind ofType { name } } } } }`;
    const { result, health } = await hostile(`{ ${aliases(20, schema)} }`);
    expect(codes(result)).toEqual(['LIMIT_EXCEEDED']);
    expect(result.errors![0]!.message).toMatch(/^Query complexity \d+ exceeds the limit of 5000$/);
    expectHealthy(health);
  });

  it('Caption.image loads the images of a whole page in one batch', async () => {
    const engine = t.app.engine;
    const batches: number[][] = [];
    let single = 0;
    const [getImages, getImage] = [engine.getImages.bind(engine), engine.getImage.bind(engine)];
    engine.getImages = (ids) => (batches.push([...ids]), getImages(ids));
    engine.getImage = (id) => (single++, getImage(id));
    try {
      const r = await t.gql<{
        images: { edges: { node: { id: string; captions: { image: { id: string } }[] } }[] };
      }>(`{ images(first: 12) { edges { node { id captions { image { id } } } } } }`);
      expect(r.errors).toBeUndefined();
      const nodes = r.data!.images.edges.map((e) => e.node);
      expect(nodes).toHaveLength(12);
      for (const node of nodes) expect(node.captions.map((c) => c.image.id)).toEqual([node.id, node.id]);
      expect(batches.map((b) => [...b].sort((x, y) => x - y))).toEqual([nodes.map((n) => Number(n.id))]);
      expect(single).toBe(0);
    } finally {
      engine.getImages = getImages;
      engine.getImage = getImage;
    }
  });
});

describe('metric labels', () => {
  async function operationCounts(): Promise<Map<string, number>> {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const counts = new Map<string, number>();
    const line = /^graphql_operation_duration_seconds_count\{operation="([^"]*)",outcome="ok"\} (\d+)$/gm;
    for (const m of text.matchAll(line)) counts.set(m[1]!, Number(m[2]));
    return counts;
  }

  it('the operation label comes from a fixed set, whatever the aliases', async () => {
    const before = await operationCounts();
    for (let n = 1; n <= 20; n++) {
      const aliased = Array.from({ length: n }, (_, i) => `a${i}: indexInfo { images }`).join(' ');
      expect((await t.gql(`{ ${aliased} }`)).errors).toBeUndefined();
    }
    expect(
      (await t.gql(`{ indexInfo { images } images(first: 1) { edges { cursor } } }`)).errors,
    ).toBeUndefined();
    expect((await t.gql(`{ __typename }`)).errors).toBeUndefined();
    const after = await operationCounts();
    const added = (label: string) => (after.get(label) ?? 0) - (before.get(label) ?? 0);
    expect([added('indexInfo'), added('multiple'), added('introspection')]).toEqual([20, 1, 1]);
    const roots = [
      'searchImages',
      'searchCaptions',
      'similarImages',
      'search',
      'image',
      'images',
      'indexInfo',
    ];
    expect(
      [...after.keys()].filter((label) => ![...roots, 'multiple', 'introspection'].includes(label)),
    ).toEqual([]);
  });
});

describe('retries (item 6)', () => {
  it('30 concurrent copies of one mutation under one Idempotency-Key write it once', async () => {
    const [row] = await t.app.db.query<{ id: number }>('SELECT id FROM images ORDER BY id LIMIT 1');
    const count = async () =>
      Number((await t.app.db.query<{ n: string }>('SELECT count(*) AS n FROM captions'))[0]!.n);
    const before = await count();
    const watchdog = await startWatchdog(t.url);
    const answers = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const res = await fetch(`${t.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'storm-1' },
          body: JSON.stringify({
            query: `mutation ($id: ID!) { addCaptions(imageId: $id, captions: ["stormy"]) { id } }`,
            variables: { id: String(row!.id) },
          }),
        });
        const body = (await res.json()) as { data?: { addCaptions: { id: string }[] }; errors?: unknown[] };
        return { status: res.status, ids: body.data?.addCaptions.map((c) => c.id) };
      }),
    );
    expectHealthy(await watchdog.stop());
    expect(await count()).toBe(before + 1);
    // The first runs; the others get its answer or, while it runs, 409 to retry later.
    const written = answers.filter((a) => a.status === 200);
    expect(written.length).toBeGreaterThan(0);
    expect(new Set(written.map((a) => JSON.stringify(a.ids))).size).toBe(1);
    expect(answers.filter((a) => a.status !== 200).every((a) => a.status === 409)).toBe(true);
  });
});
