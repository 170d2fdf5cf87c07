import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startTestApp, type TestApp } from './fixture.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    n: 12,
    overrides: {
      MAX_QUERY_TEXT: 50,
      MAX_BODY_BYTES: 200_000,
      MAX_IMAGE_BYTES: 100_000,
      MAX_QUERY_COMPLEXITY: 300,
    },
  });
});
afterAll(async () => {
  await t?.close();
});

async function post(body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(`${t.url}/graphql`, { method: 'POST', headers, body });
  return {
    status: response.status,
    body: (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] },
  };
}

describe('limits', () => {
  it('first is capped at MAX_FIRST and must be positive', async () => {
    expect(codes(await t.gql(`{ searchImages(text: "a", first: 101) { edges { score } } }`))).toEqual([
      'LIMIT_EXCEEDED',
    ]);
    expect(codes(await t.gql(`{ searchImages(text: "a", first: 0) { edges { score } } }`))).toEqual([
      'INVALID_INPUT',
    ]);
    expect(codes(await t.gql(`{ images(first: 1000) { edges { cursor } } }`))).toEqual(['LIMIT_EXCEEDED']);
    expect(codes(await t.gql(`{ searchImages(text: "a", first: 100) { edges { score } } }`))).toEqual([]);
  });

  it('query text length is capped, and empty text refused', async () => {
    const r = await t.gql(`query ($t: String!) { searchImages(text: $t) { edges { score } } }`, {
      t: 'x'.repeat(51),
    });
    expect(codes(r)).toEqual(['LIMIT_EXCEEDED']);
    expect(codes(await t.gql(`{ searchImages(text: "   ") { edges { score } } }`))).toEqual([
      'INVALID_INPUT',
    ]);
  });

  it('query depth is limited', async () => {
    const deep = `{ searchCaptions(image: { id: "1" }) { edges { node { image { captions { image { captions { image { id } } } } } } } } }`;
    const r = await t.gql(deep);
    expect(codes(r)).toEqual(['LIMIT_EXCEEDED']);
    expect(r.errors![0]!.message).toMatch(/depth 9 exceeds the limit of 8/);
  });

  it('query complexity is limited, counting first from variables', async () => {
    const q = `query ($n: Int) { searchImages(text: "a", first: $n) { edges { score cursor node { id uri width height } } } }`;
    expect(codes(await t.gql(q, { n: 5 }))).toEqual([]);
    const r = await t.gql(q, { n: 100 });
    expect(codes(r)).toEqual(['LIMIT_EXCEEDED']);
    expect(r.errors![0]!.message).toMatch(/complexity/);
  });

  it('request bodies over MAX_BODY_BYTES get 413 LIMIT_EXCEEDED', async () => {
    const big = JSON.stringify({
      query: '{ indexInfo { images } }',
      variables: { pad: 'x'.repeat(250_000) },
    });
    const r = await post(big);
    expect(r.status).toBe(413);
    expect(r.body.errors![0]!.extensions!.code).toBe('LIMIT_EXCEEDED');
  });

  it('image bytes over MAX_IMAGE_BYTES are refused before decoding', async () => {
    const b64 = Buffer.alloc(120_000, 1).toString('base64');
    const r = await t.gql(
      `query ($b: String!) { similarImages(image: { base64: $b }) { edges { score } } }`,
      { b: b64 },
    );
    expect(codes(r)).toEqual(['LIMIT_EXCEEDED']);
  });
});

describe('error codes', () => {
  it('bad image inputs have stable codes', async () => {
    const q = `query ($i: ImageInput!) { searchCaptions(image: $i) { edges { score } } }`;
    expect(codes(await t.gql(q, { i: {} }))).toEqual(['INVALID_INPUT']);
    expect(codes(await t.gql(q, { i: { id: '1', base64: 'AAAA' } }))).toEqual(['INVALID_INPUT']);
    expect(codes(await t.gql(q, { i: { base64: 'not base64!' } }))).toEqual(['INVALID_INPUT']);
    expect(codes(await t.gql(q, { i: { base64: Buffer.from('plain text').toString('base64') } }))).toEqual([
      'INVALID_IMAGE',
    ]);
    expect(codes(await t.gql(q, { i: { id: '99999' } }))).toEqual(['NOT_FOUND']);
    expect(codes(await t.gql(q, { i: { id: '-3' } }))).toEqual(['INVALID_INPUT']);
  });

  it('GraphQL-level errors keep Apollo codes; bad JSON is 400', async () => {
    expect(codes(await t.gql(`{ searchImages(text: "a") { edges { nope } } }`))).toEqual([
      'GRAPHQL_VALIDATION_FAILED',
    ]);
    expect(codes(await t.gql(`{ searchImages(text: `))).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(
      codes(
        await t.gql(`query ($f: Int) { searchImages(text: "a", first: $f) { edges { score } } }`, { f: 'x' }),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    // A scalar that refuses its value says why with our own code (issue 13, item 9).
    expect(
      codes(await t.gql(`{ images(filter: { createdAfter: "yesterday" }) { edges { cursor } } }`)),
    ).toEqual(['INVALID_INPUT']);
    const r = await post('{"query": ');
    expect(r.status).toBe(400);
    expect(r.body.errors![0]!.extensions!.code).toBe('BAD_REQUEST');
  });

  it('CSRF prevention refuses simple requests that could come from another site', async () => {
    const get = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ indexInfo { images } }')}`);
    expect(get.status).toBe(400);
    expect(await get.text()).toMatch(/CSRF/i);
    const form = await post('query={indexInfo{images}}', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(400);
    const ok = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ indexInfo { images } }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(ok.status).toBe(200);
  });

  it('an unexpected error is INTERNAL_SERVER_ERROR without its detail', async () => {
    const engine = t.app.engine;
    const original = engine.indexInfo.bind(engine);
    engine.indexInfo = () => Promise.reject(new Error('secret detail: /etc/shadow'));
    try {
      const r = await t.gql(`{ indexInfo { images } }`);
      expect(codes(r)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(JSON.stringify(r)).not.toMatch(/secret|shadow|stacktrace/);
    } finally {
      engine.indexInfo = original;
    }
  });
});
