import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startTestApp, type TestApp } from './fixture.ts';

/** CORS over real HTTP: what a browser's preflight and its actual request get back. */

const ALLOWED = 'http://localhost:3000';
const OTHER = 'http://evil.example';
const QUERY = JSON.stringify({ query: '{ __typename }' });

function preflight(url: string, origin: string): Promise<Response> {
  return fetch(`${url}/graphql`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, apollo-require-preflight',
    },
  });
}

function post(url: string, origin: string | undefined, body = QUERY, extra: Record<string, string> = {}) {
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}), ...extra },
    body,
  });
}

/** Every access-control-* header and Vary, so a test sees all of them at once. */
function corsHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of res.headers) if (k.startsWith('access-control-') || k === 'vary') out[k] = v;
  return out;
}

describe('CORS_ORIGINS with exact origins', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      n: 2,
      index: false,
      overrides: { CORS_ORIGINS: `${ALLOWED}, https://app.example` },
    });
  });
  afterAll(async () => t?.close());

  it('answers a preflight from a listed origin with 204 and the headers Apollo needs', async () => {
    const res = await preflight(t.url, ALLOWED);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(corsHeaders(res)).toEqual({
      'access-control-allow-origin': ALLOWED,
      'access-control-expose-headers': 'idempotent-replayed',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers':
        'content-type, authorization, apollo-require-preflight, x-apollo-operation-name, idempotency-key',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
  });

  it('lets the listed origin read the answer, without credentials', async () => {
    const res = await post(t.url, ALLOWED);
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual({
      'access-control-allow-origin': ALLOWED,
      'access-control-expose-headers': 'idempotent-replayed',
      vary: 'Origin',
    });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses a preflight from an unlisted origin with 403 and no CORS headers', async () => {
    const res = await preflight(t.url, OTHER);
    expect(res.status).toBe(403);
    expect(corsHeaders(res)).toEqual({ vary: 'Origin' });
    expect(await res.text()).toBe(`Origin ${OTHER} is not allowed (CORS_ORIGINS)`);
    // A simple request from it is served (as any non-browser client is) but the browser hides it.
    const simple = await post(t.url, OTHER);
    expect(corsHeaders(simple)).toEqual({ vary: 'Origin' });
  });

  it('leaves other routes same-origin', async () => {
    const res = await fetch(`${t.url}/healthz`, { headers: { origin: ALLOWED } });
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual({});
  });
});

describe('CORS_ORIGINS=*', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      n: 2,
      index: false,
      overrides: { CORS_ORIGINS: '*', API_KEY: 'secret-key-123' },
    });
  });
  afterAll(async () => t?.close());

  it('answers any origin with *, never with credentials', async () => {
    const pre = await preflight(t.url, OTHER);
    expect(pre.status).toBe(204);
    expect(corsHeaders(pre)).toEqual({
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'idempotent-replayed',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers':
        'content-type, authorization, apollo-require-preflight, x-apollo-operation-name, idempotency-key',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    const res = await post(t.url, OTHER);
    expect(corsHeaders(res)).toEqual({
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'idempotent-replayed',
      vary: 'Origin',
    });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('still needs the API key for mutations', async () => {
    const body = JSON.stringify({ query: 'mutation { deleteImage(id: "1") { deleted } }' });
    const res = await post(t.url, OTHER, body);
    const json = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(json.errors.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('is refused at start-up together with unauthenticated mutations', () => {
    expect(() =>
      loadConfig({ env: {}, overrides: { CORS_ORIGINS: '*', ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' } }),
    ).toThrow('CORS_ORIGINS: * lets any web page call the API; set API_KEY or list exact origins');
  });
});

describe('CORS_ORIGINS unset (same-origin)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ n: 2, index: false });
  });
  afterAll(async () => t?.close());

  it('adds no CORS header and a preflight is not allowed', async () => {
    const pre = await preflight(t.url, ALLOWED);
    expect(pre.status).toBe(405);
    expect(corsHeaders(pre)).toEqual({});
    const res = await post(t.url, ALLOWED);
    expect(corsHeaders(res)).toEqual({});
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses malformed entries in the setting', () => {
    expect(() =>
      loadConfig({
        env: {},
        overrides: { CORS_ORIGINS: 'localhost:3000, http://a.example/, *, http://b.example' },
      }),
    ).toThrow(/CORS_ORIGINS: each entry must be an origin[\s\S]*CORS_ORIGINS: \* must stand alone/);
  });
});
