/**
 * Client input gets a client error with a stable code, never INTERNAL_SERVER_ERROR (issue 13,
 * items 8, 9, 10 and 13). Each case was an INTERNAL_SERVER_ERROR or a misleading answer before.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const KEY = 'client-errors-key';
const auth = { authorization: `Bearer ${KEY}` };
const ADD = `mutation ($input: AddImageInput!) { addImage(input: $input) { status image { id } } }`;

let t: TestApp;
let png: string;

beforeAll(async () => {
  t = await startTestApp({ n: 12, overrides: { API_KEY: KEY, REMOTE_IMAGE_HOSTS: '127.0.0.1' } });
  png = (
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 90 } } })
      .png()
      .toBuffer()
  ).toString('base64');
});
afterAll(async () => {
  await t?.close();
});

type Answer = Awaited<ReturnType<TestApp['gql']>>;
function only(r: Answer): { code: string; message: string } {
  expect(codes(r)).not.toContain('INTERNAL_SERVER_ERROR');
  expect(r.errors).toHaveLength(1);
  return { code: r.errors![0]!.extensions!.code!, message: r.errors![0]!.message };
}

async function uploads(): Promise<string[]> {
  return (await readdir(path.join(t.dataDir, 'uploads')).catch(() => [])).sort();
}

describe('client input gets a client error (item 8)', () => {
  it('dates outside the database range are INVALID_INPUT', async () => {
    for (const d of ['+275760-09-13T00:00:00Z', '-200000-01-01T00:00:00Z']) {
      const r = await t.gql(
        `query ($d: DateTime) { images(filter: { createdAfter: $d }) { edges { cursor } } }`,
        {
          d,
        },
      );
      expect(only(r).code).toBe('INVALID_INPUT');
    }
  });

  it('a forged images cursor is INVALID_INPUT', async () => {
    const after = Buffer.from('i:99999999999999999999').toString('base64url');
    const r = await t.gql(`query ($a: String) { images(after: $a) { edges { cursor } } }`, { a: after });
    expect(only(r)).toEqual({
      code: 'INVALID_INPUT',
      message: 'Malformed cursor: pass an endCursor returned by images()',
    });
  });

  it('NUL characters in captions, metadata or filename are INVALID_INPUT and leave no file behind', async () => {
    const before = await uploads();
    const inputs = [
      { base64: png, captions: ['a\u0000b'] },
      { base64: png, metadata: { 'k\u0000': 'v' } },
      { base64: png, metadata: { k: 'v\u0000' } },
      { base64: png, metadata: { k: ['x', { deep: '\u0000' }] } },
      { base64: png, filename: 'a\u0000.png' },
    ];
    for (const input of inputs) {
      const r = await t.gql(ADD, { input }, auth);
      expect(only(r).code).toBe('INVALID_INPUT');
      expect(only(r).message).toMatch(/NUL/);
    }
    const add = await t.gql(
      `mutation { addCaptions(imageId: "1", captions: ["x\\u0000"]) { id } }`,
      {},
      auth,
    );
    expect(only(add).code).toBe('INVALID_INPUT');
    expect(await uploads()).toEqual(before);
  });

  it('JSON nested 5,000 deep is LIMIT_EXCEEDED, as a variable and as a literal', async () => {
    // Built as text: JSON.stringify itself overflows the stack on such a value.
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const body = `{"query":${JSON.stringify(ADD)},"variables":{"input":{"base64":"${png}","metadata":${deep}}}}`;
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body,
    });
    const r = (await response.json()) as Answer;
    expect(only(r)).toEqual({
      code: 'LIMIT_EXCEEDED',
      message: expect.stringMatching(/nested deeper than 64 levels/) as unknown as string,
    });
    const literal = `${'{a: '.repeat(100)}1${'}'.repeat(100)}`;
    const lit = await t.gql(`{ images(filter: { metadata: ${literal} }) { edges { cursor } } }`);
    expect(only(lit).code).toBe('LIMIT_EXCEEDED');
  });
});

describe('DateTime is ISO-8601 only (item 9)', () => {
  const Q = `query ($d: DateTime) { images(filter: { createdAfter: $d }) { edges { cursor } } }`;
  it('refuses non-ISO text and impossible calendar dates', async () => {
    for (const d of ['12', 'Jan 1 2020', '2026-02-30T00:00:00Z', '2026-13-01', '2026-01-01T24:00:00Z', '']) {
      expect(only(await t.gql(Q, { d }))).toEqual({
        code: 'INVALID_INPUT',
        message: `DateTime must be an ISO-8601 timestamp such as 2024-05-01T12:00:00Z, got "${d}"`,
      });
    }
    const lit = await t.gql(`{ images(filter: { createdBefore: "Jan 1 2020" }) { edges { cursor } } }`);
    expect(only(lit).code).toBe('INVALID_INPUT');
  });

  it('accepts ISO dates and date-times, with or without a zone', async () => {
    for (const d of [
      '2000-01-01',
      '2000-02-29T10:00:00Z',
      '2000-01-01T00:00:00.123+02:00',
      '2000-01-01T00:00',
      '0050-06-15',
    ]) {
      const r = await t.gql<{ images: { edges: unknown[] } }>(Q, { d });
      expect(r.errors).toBeUndefined();
      expect(r.data!.images.edges).toHaveLength(12);
    }
  });
});

describe('protocol misuse gets a client error (item 8)', () => {
  async function post(body: unknown) {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Answer };
  }

  it('persisted-query hash mismatches and bad versions are BAD_REQUEST', async () => {
    const mismatch = await post({
      query: '{ indexInfo { images } }',
      extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } },
    });
    expect(mismatch.status).toBe(400);
    expect(only(mismatch.body)).toEqual({
      code: 'BAD_REQUEST',
      message: 'provided sha does not match query',
    });
    const version = await post({
      query: '{ indexInfo { images } }',
      extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } },
    });
    expect(version.status).toBe(400);
    expect(only(version.body)).toEqual({
      code: 'BAD_REQUEST',
      message: 'Unsupported persisted query version',
    });
  });

  it('a subscription is refused as a validation error', async () => {
    const r = await post({ query: 'subscription { x }' });
    expect(r.status).toBe(400);
    expect(only(r.body)).toEqual({
      code: 'GRAPHQL_VALIDATION_FAILED',
      message: 'This API does not support subscription operations',
    });
  });
});

describe('a failed add leaves no upload behind (item 8)', () => {
  it('bytes that are not an image are INVALID_IMAGE and no file stays in uploads/', async () => {
    const before = await uploads();
    const notImage = Buffer.from('definitely not a picture, just text').toString('base64');
    const r = await t.gql(ADD, { input: { base64: notImage } }, auth);
    expect(only(r).code).toBe('INVALID_IMAGE');
    expect(await uploads()).toEqual(before);
    // A successful add keeps its file.
    const ok = await t.gql<{ addImage: { status: string } }>(ADD, { input: { base64: png } }, auth);
    expect(ok.data?.addImage.status).toBe('INDEXED');
    expect((await uploads()).length).toBe(before.length + 1);
  });
});

describe('text that tokenises to nothing is refused like blank text (item 10)', () => {
  const SEARCH = `query ($t: String!) { searchImages(text: $t) { edges { score } } }`;
  it('NUL, zero-width and BOM-only texts are INVALID_INPUT, in every query text', async () => {
    for (const text of ['\u0000', '\u200b', ' \u200b\ufeff\u0000 ', '\u2028']) {
      expect(only(await t.gql(SEARCH, { t: text }))).toEqual({
        code: 'INVALID_INPUT',
        message: 'text must not be empty',
      });
      const composed = await t.gql(
        `query ($t: String!) { search(query: { text: "a shape", negativeText: $t }) { edges { score } } }`,
        { t: text },
      );
      expect(only(composed)).toEqual({ code: 'INVALID_INPUT', message: 'negativeText must not be empty' });
    }
  });

  it('NUL inside real text is INVALID_INPUT, not a database error', async () => {
    const r = await t.gql(
      `query ($t: String!) { searchImages(text: $t, options: { hybrid: {} }) { edges { score } } }`,
      { t: 'a red\u0000 circle' },
    );
    expect(only(r)).toEqual({
      code: 'INVALID_INPUT',
      message: 'text must not contain NUL (U+0000) characters',
    });
  });
});

describe('messages say what is wrong (item 13)', () => {
  it('blank hybrid.keywords are named as blank', async () => {
    for (const k of ['   ', '\u200b']) {
      const r = await t.gql(
        `query ($k: String) { searchImages(text: "a shape", options: { hybrid: { keywords: $k } }) { edges { score } } }`,
        { k },
      );
      expect(only(r)).toEqual({ code: 'INVALID_INPUT', message: 'hybrid.keywords must not be empty' });
    }
  });

  it('a weight too small to search is named, and a real cancellation still says so', async () => {
    const Q = `query ($q: ComposedQuery!) { search(query: $q) { edges { score } } }`;
    expect(only(await t.gql(Q, { q: { text: 'a red circle', textWeight: 1e-7 } }))).toEqual({
      code: 'INVALID_INPUT',
      message: 'textWeight must be 0 or at least 0.0001 in magnitude, got 1e-7',
    });
    const cancelled = await t.gql(Q, {
      q: { text: 'a red circle', negativeText: 'a red circle', negativeWeight: 1 },
    });
    expect(only(cancelled)).toEqual({
      code: 'INVALID_INPUT',
      message: 'The weighted query cancels out to nothing',
    });
  });

  it('an id beyond the integer range says so', async () => {
    expect(only(await t.gql(`{ image(id: "9999999999999999") { id } }`))).toEqual({
      code: 'INVALID_INPUT',
      message: 'id 9999999999999999 is out of range: ids go up to 9007199254740991',
    });
    expect(only(await t.gql(`{ image(id: "-1") { id } }`))).toEqual({
      code: 'INVALID_INPUT',
      message: 'id must be a positive integer id, got "-1"',
    });
  });

  it('a TLS failure is NETWORK with a plain message, no OpenSSL internals', async () => {
    const plain = http.createServer((_req, res) => res.end('not TLS'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const port = (plain.address() as AddressInfo).port;
      const r = await t.gql(`query ($i: ImageInput!) { searchCaptions(image: $i) { edges { score } } }`, {
        i: { url: `https://127.0.0.1:${port}/img.png` },
      });
      expect(only(r)).toEqual({
        code: 'NETWORK',
        message: 'Fetching the image failed: the TLS handshake failed (EPROTO)',
      });
    } finally {
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  it('cosine scores stay within [-1, 1], even for an image searched by its own bytes', async () => {
    const Q = `query ($b: String!) { search(query: { image: { base64: $b } }, first: 12) { edges { score } } }`;
    const scores: number[] = [];
    for (const line of t.manifest) {
      const bytes = await readFile(path.join(t.samplesDir, line.image));
      const r = await t.gql<{ search: { edges: { score: number }[] } }>(Q, { b: bytes.toString('base64') });
      expect(r.errors).toBeUndefined();
      scores.push(...r.data!.search.edges.map((e) => e.score));
    }
    expect(scores).toHaveLength(144);
    expect(scores.filter((s) => !(s >= -1 && s <= 1))).toEqual([]);
    // Each image finds itself first, at a float32 score of (at most exactly) 1.
    expect(Math.max(...scores)).toBeGreaterThan(0.9999);
  });
});

describe('NUL in filters (item 8)', () => {
  it('a NUL in filter.captionMatch is INVALID_INPUT', async () => {
    const r = await t.gql(
      `query ($m: String) { images(filter: { captionMatch: $m }) { edges { cursor } } }`,
      {
        m: 'circle\u0000',
      },
    );
    expect(only(r)).toEqual({
      code: 'INVALID_INPUT',
      message: 'filter.captionMatch must not contain NUL (U+0000) characters',
    });
  });
});
