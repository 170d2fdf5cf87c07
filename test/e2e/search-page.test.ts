import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../api/fixture.ts';
import { CHROMIUM, chromiumMissing as missing, launchChromium, type Browser } from './chromium.ts';
import { cardIds, holdRequests, openPage, settle } from './search-page.helpers.ts';

/**
 * The search page as people use it (issue 14): slow and out-of-order answers, double clicks,
 * bad files. Each test drives a real Chromium against a real server and checks what is on screen.
 */
if (missing) console.warn(`SKIPPED search page tests: ${CHROMIUM} not found (apt-get install -y chromium)`);

describe.skipIf(missing)('the search page', () => {
  let t: TestApp;
  let browser: Browser;
  const files = { empty: '', notImage: '', huge: '' };

  /** The ids the API ranks first for a text: what the grid must show for it. */
  async function expectedIds(text: string): Promise<string[]> {
    const r = await t.gql<{ searchImages: { edges: { node: { id: string } }[] } }>(
      'query ($text: String!) { searchImages(text: $text, first: 24) { edges { node { id } } } }',
      { text },
    );
    return r.data!.searchImages.edges.map((e) => e.node.id);
  }

  beforeAll(async () => {
    t = await startTestApp({ n: 60, overrides: { MAX_IMAGE_BYTES: 2_000_000 } });
    browser = await launchChromium({ width: 1280, height: 900 });
    files.empty = path.join(t.dataDir, 'empty.png');
    files.notImage = path.join(t.dataDir, 'notes.png');
    files.huge = path.join(t.dataDir, 'huge.png');
    await writeFile(files.empty, '');
    await writeFile(files.notImage, 'these are notes, not pixels\n'.repeat(20));
    const huge = { create: { width: 8000, height: 8000, channels: 3 as const, background: '#888' } };
    await sharp(huge).png().toFile(files.huge);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows the answer to the last search even when an earlier one answers later', async () => {
    const { page, errors } = await openPage(browser.context, `${t.url}/`);
    const slow = await holdRequests(page, (body) => body.includes('a red circle'));
    await page.fill('#text', 'a red circle');
    await page.press('#text', 'Enter');
    await expect.poll(() => slow.held()).toBe(1);
    await page.fill('#text', 'a blue square');
    await page.press('#text', 'Enter');
    expect(await settle(page)).toMatch(/^24 results in \d+ ms$/);
    const blue = await expectedIds('a blue square');
    expect(blue).not.toEqual(await expectedIds('a red circle'));
    slow.release();
    await slow.settled;
    await settle(page);
    expect(await cardIds(page)).toEqual(blue);
    expect(await page.inputValue('#text')).toBe('a blue square');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a double-clicked More loads the next page once: no duplicates', async () => {
    const { page, requests } = await openPage(browser.context, `${t.url}/`);
    await page.fill('#text', 'a green triangle');
    await page.press('#text', 'Enter');
    await settle(page);
    await page.dblclick('#more');
    expect(await settle(page)).toMatch(/^48 results in \d+ ms$/);
    const ids = await cardIds(page);
    expect(ids).toHaveLength(48);
    expect(new Set(ids).size).toBe(48);
    expect(requests.filter((r) => r.variables.after)).toHaveLength(1);
    await page.close();
  });

  it('More during a pending search does nothing; the new search shows its own first page', async () => {
    const { page, requests } = await openPage(browser.context, `${t.url}/`);
    await page.fill('#text', 'a green triangle');
    await page.press('#text', 'Enter');
    await settle(page);
    expect(await page.isVisible('#more')).toBe(true);
    const slow = await holdRequests(page, (body) => body.includes('a yellow star'));
    await page.fill('#text', 'a yellow star');
    await page.press('#text', 'Enter');
    await expect.poll(() => slow.held()).toBe(1);
    expect(await page.isVisible('#more')).toBe(false);
    // A script (or a click that raced the hide) still cannot page the old search.
    await page.locator('#more').dispatchEvent('click');
    slow.release();
    await settle(page);
    expect(await cardIds(page)).toEqual(await expectedIds('a yellow star'));
    expect(requests.filter((r) => r.variables.after)).toEqual([]);
    await page.close();
  });

  describe('an error replaces the previous results', () => {
    async function afterTextSearch() {
      const opened = await openPage(browser.context, `${t.url}/`);
      await opened.page.fill('#text', 'a red circle');
      await opened.page.press('#text', 'Enter');
      await settle(opened.page);
      expect(await cardIds(opened.page)).toHaveLength(24);
      return opened;
    }
    async function expectOnlyTheError(opened: Awaited<ReturnType<typeof openPage>>, message: string) {
      const { page } = opened;
      expect(await settle(page)).toBe(message);
      expect(await page.getAttribute('#status', 'class')).toBe('error');
      expect(await cardIds(page)).toEqual([]);
      expect(await page.isVisible('#query-image')).toBe(false);
      expect(await page.isVisible('#results-title')).toBe(false);
      expect(await page.isVisible('#more')).toBe(false);
    }

    it.each([
      ['an empty file', 'empty', 'empty.png is empty (0 bytes). Choose an image file.'],
      [
        'a file that is not an image',
        'notImage',
        'This file could not be read as an image. Choose a PNG, JPEG, WebP, GIF, TIFF or AVIF file.',
      ],
      [
        'an 8000 x 8000 image',
        'huge',
        'This image is too large (8000 × 8000 pixels): the limit is 50,000,000 pixels. Use a smaller image.',
      ],
    ] as const)('%s', async (_name, file, message) => {
      const opened = await afterTextSearch();
      await opened.page.setInputFiles('#file', files[file]);
      await expectOnlyTheError(opened, message);
      expect(opened.errors).toEqual([]);
      await opened.page.close();
    });

    it('a text file, and an image over maxImageBytes: refused before anything is sent', async () => {
      const opened = await afterTextSearch();
      const sent = opened.requests.length;
      await opened.page.setInputFiles('#file', {
        name: 'notes.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('hi'),
      });
      await expectOnlyTheError(
        opened,
        'notes.txt is not an image (text/plain). Choose a PNG, JPEG, WebP, GIF, TIFF or AVIF file.',
      );
      const big = Buffer.alloc(3_000_000);
      await opened.page.setInputFiles('#file', { name: 'big.png', mimeType: 'image/png', buffer: big });
      await expectOnlyTheError(
        opened,
        'big.png is 3.0 MB; the largest image you can search with is 2.0 MB. Use a smaller image.',
      );
      expect(opened.requests.length).toBe(sent);
      await opened.page.close();
    });

    it('a text over the length limit: says the limit instead of cutting the text', async () => {
      const opened = await afterTextSearch();
      expect(await opened.page.getAttribute('#text', 'maxlength')).toBeNull();
      await opened.page.fill('#text', 'a red circle '.repeat(80));
      await opened.page.press('#text', 'Enter');
      await expectOnlyTheError(
        opened,
        'Your text is 1,039 characters; the limit is 1000. Shorten it and search again.',
      );
      await opened.page.close();
    });
  });

  it('keeps the query in the URL: /?q= opens and searches, Back and Forward restore each search', async () => {
    const { page, errors } = await openPage(browser.context, `${t.url}/?q=a+red+circle`);
    const red = await expectedIds('a red circle');
    const blue = await expectedIds('a blue square');
    await expect.poll(() => cardIds(page)).toEqual(red);
    expect(await page.inputValue('#text')).toBe('a red circle');

    await page.fill('#text', 'a blue square');
    await page.press('#text', 'Enter');
    await settle(page);
    expect(new URL(page.url()).search).toBe('?q=a+blue+square');
    expect(await cardIds(page)).toEqual(blue);

    await page.setInputFiles('#file', path.join(t.samplesDir, t.manifest[0]!.image));
    await expect.poll(() => page.locator('#captions li').count()).toBe(8);
    expect(new URL(page.url()).search).toBe('');

    await page.goBack();
    await expect.poll(() => page.inputValue('#text')).toBe('a blue square');
    await expect.poll(() => cardIds(page)).toEqual(blue);
    expect(await page.isVisible('#query-image')).toBe(false);
    await page.goBack();
    await expect.poll(() => page.inputValue('#text')).toBe('a red circle');
    await expect.poll(() => cardIds(page)).toEqual(red);
    await page.goForward();
    await expect.poll(() => cardIds(page)).toEqual(blue);
    expect(await settle(page)).toMatch(/^24 results in \d+ ms$/);
    await page.goForward();
    await expect.poll(() => cardIds(page)).toEqual([]);
    expect(await page.inputValue('#text')).toBe('');
    expect(errors).toEqual([]);
    await page.close();
  });
});
