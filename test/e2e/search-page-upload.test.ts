import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../api/fixture.ts';
import { CHROMIUM, chromiumMissing as missing, launchChromium, type Browser } from './chromium.ts';
import { cardIds, openPage, settle } from './search-page.helpers.ts';

/**
 * Searching by an uploaded image (issue 14, items 4-6): the image goes up once and is paged by a
 * token; a slow upload shows its progress, ends with a plain message at the server's timeout, is
 * never sent twice, and the server logs the abandoned upload as a warning.
 */
if (missing) console.warn(`SKIPPED search page upload tests: ${CHROMIUM} not found`);

describe.skipIf(missing)('the search page uploads an image', () => {
  let t: TestApp;
  let browser: Browser;
  const logs: { level: number; msg: string }[] = [];

  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    t = await startTestApp({ n: 60, logger, overrides: { REQUEST_TIMEOUT_MS: 3000 } });
    browser = await launchChromium({ width: 1280, height: 900 });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('once: More pages by the token, and never sends the image again', async () => {
    const { page, requests, errors } = await openPage(browser.context, `${t.url}/`);
    await page.setInputFiles('#file', path.join(t.samplesDir, t.manifest[0]!.image));
    expect(await settle(page)).toMatch(/^24 results in \d+ ms$/);
    expect(await page.locator('#captions li').count()).toBe(8);
    await page.click('#more');
    expect(await settle(page)).toMatch(/^48 results in \d+ ms$/);
    const ids = await cardIds(page);
    expect(new Set(ids).size).toBe(48);
    expect(ids).not.toContain(undefined);

    const searches = requests.filter((r) => !r.query.includes('indexInfo'));
    const images = searches.map((r) => r.variables.image as Record<string, string>);
    expect(searches.map((r) => /query (\w+)/.exec(r.query)![1])).toEqual(['Upload', 'Image', 'MoreImages']);
    expect(images[0]!.base64).toMatch(/^data:image\/png;base64,/);
    const token = (images[1] as { token: string }).token;
    expect(token).toMatch(/^[\w-]{24}$/);
    expect(images.slice(1)).toEqual([{ token }, { token }]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('slowly: shows the upload progress, then a plain message at the timeout; sent once, logged at warn', async () => {
    const noise = path.join(t.dataDir, 'noise.png');
    await sharp(randomBytes(400 * 400 * 3), { raw: { width: 400, height: 400, channels: 3 } })
      .png()
      .toFile(noise);
    const { page, requests, errors } = await openPage(browser.context, `${t.url}/`);
    const cdp = await browser.context.newCDPSession(page);
    // ~640 KB of base64 at 64 KB/s: ten seconds, over the 3 s the server allows a request.
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 64 * 1024,
    });
    const seen: string[] = [];
    const watch = setInterval(() => {
      void page
        .locator('#status')
        .innerText()
        .then((s) => seen.push(s))
        .catch(() => undefined);
    }, 100);
    const before = logs.length;
    await page.setInputFiles('#file', noise);
    await expect.poll(() => page.isVisible('#progress')).toBe(true);
    const status = await settle(page);
    clearInterval(watch);
    expect(seen.some((s) => /^Uploading the image… \d+% \(\d\.\d MB of \d\.\d MB\)$/.test(s))).toBe(true);
    expect(status).toMatch(/^The upload did not finish within 3 s \(\d\.\d MB\): the connection is too slow/);
    expect(await page.isVisible('#progress')).toBe(false);
    expect(await cardIds(page)).toEqual([]);
    expect(requests.filter((r) => r.query.includes('queryImageToken'))).toHaveLength(1);
    await expect
      .poll(() => logs.slice(before).filter((l) => l.msg === 'client closed the request before it was read'))
      .toHaveLength(1);
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
