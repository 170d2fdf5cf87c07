import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../api/fixture.ts';
import { CHROMIUM, chromiumMissing as missing, launchChromium, type Browser } from './chromium.ts';

/**
 * A real browser (Debian's chromium, headless, no network beyond our server) against a real
 * server: the playground runs a query, the search page searches by text and by an uploaded image.
 */
if (missing) console.warn(`SKIPPED browser tests: ${CHROMIUM} not found (apt-get install -y chromium)`);

describe.skipIf(missing)('in a browser', () => {
  let t: TestApp;
  let context: BrowserContext;
  let browser: Browser;
  const foreignRequests: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({ n: 40 });
    browser = await launchChromium({ width: 1280, height: 900 });
    context = browser.context;
    context.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(t.url) && !url.startsWith('data:') && !url.startsWith('blob:'))
        foreignRequests.push(url);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('the playground loads offline and runs the default query', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${t.url}/graphql`);
    await page.locator('.graphiql-execute-button').click({ timeout: 20_000 });
    const result = page.locator('.result-window');
    await expect.poll(async () => result.innerText(), { timeout: 20_000 }).toMatch(/"thumbnailUrl"/);
    const text = await result.innerText();
    expect(text).toMatch(/"searchImages"/);
    expect(text).toMatch(/"score"/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the search page finds images by text, shows thumbnails, and captions an uploaded image', async () => {
    const page = await context.newPage();
    await page.goto(`${t.url}/`);
    await expect.poll(() => page.locator('#info').innerText()).toMatch(/40 images/);
    await page.fill('#text', 'a red circle');
    await page.click('#text-form button');
    const cards = page.locator('#results .card');
    await expect.poll(() => cards.count(), { timeout: 20_000 }).toBe(24);
    await expect
      .poll(
        () =>
          page
            .locator('#results .card img')
            .evaluateAll(
              (imgs) =>
                imgs.filter((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0).length,
            ),
        {
          timeout: 20_000,
        },
      )
      .toBe(24);
    expect(await cards.first().locator('.score').innerText()).toMatch(/^score \d\.\d{3}/);
    expect(await cards.first().locator('.caption').count()).toBeGreaterThan(0);
    const shot = path.join(t.dataDir, 'search-page.png');
    await page.screenshot({ path: shot, fullPage: false });
    expect(existsSync(shot)).toBe(true);

    await page.setInputFiles('#file', path.join(t.samplesDir, t.manifest[0]!.image));
    await expect.poll(() => page.locator('#captions li').count(), { timeout: 20_000 }).toBe(8);
    expect(await page.locator('#query-preview').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await page.locator('#status').innerText()).toMatch(/results in \d+ ms/);
    await expect.poll(() => cards.count()).toBe(24);
    await page.close();
  });

  it('never asked any other host for anything', () => {
    expect(foreignRequests).toEqual([]);
  });
});
