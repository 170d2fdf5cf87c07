import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../api/fixture.ts';
import { CHROMIUM, chromiumMissing as missing, launchChromium, type Browser } from './chromium.ts';

/**
 * CORS as a browser enforces it: pages served from other local ports call the API with fetch.
 * Only Chromium decides what a page may read, so only a real browser can show the allowlist works.
 */
if (missing) console.warn(`SKIPPED CORS browser tests: ${CHROMIUM} not found (apt-get install -y chromium)`);

/** A bare front end on its own port: one empty HTML page, so its origin is http://127.0.0.1:<port>. */
async function servePage(): Promise<{ origin: string; server: http.Server }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>front end</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.skipIf(missing)('CORS in a browser', () => {
  let t: TestApp;
  let context: BrowserContext;
  let browser: Browser;
  let allowed: { origin: string; server: http.Server };
  let other: { origin: string; server: http.Server };

  beforeAll(async () => {
    allowed = await servePage();
    other = await servePage();
    t = await startTestApp({ n: 4, overrides: { CORS_ORIGINS: allowed.origin } });
    browser = await launchChromium();
    context = browser.context;
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    for (const s of [allowed?.server, other?.server]) if (s) await new Promise((r) => s.close(r));
  });

  /** Runs fetch in a page of `origin`: the JSON answer, or the error the page saw. */
  async function queryFrom(origin: string): Promise<{ data?: unknown; error?: string }> {
    const page = await context.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(async (api) => {
        try {
          // JSON and a custom header: a non-simple request, so Chromium sends a preflight first.
          const res = await fetch(`${api}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-apollo-operation-name': 'Count' },
            body: JSON.stringify({ query: 'query Count { indexInfo { images } }' }),
          });
          return { data: await res.json() };
        } catch (e) {
          return { error: `${(e as Error).name}: ${(e as Error).message}` };
        }
      }, t.url);
    } finally {
      await page.close();
    }
  }

  it('a page on a listed origin POSTs a query and reads the data', async () => {
    expect(await queryFrom(allowed.origin)).toEqual({ data: { data: { indexInfo: { images: 4 } } } });
  });

  it('a page on an unlisted origin is refused: its fetch rejects', async () => {
    expect(await queryFrom(other.origin)).toEqual({ error: 'TypeError: Failed to fetch' });
  });
});
