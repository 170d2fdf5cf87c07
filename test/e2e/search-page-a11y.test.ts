import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../api/fixture.ts';
import { CHROMIUM, chromiumMissing as missing, launchChromium, type Browser } from './chromium.ts';
import { cardIds, openPage, settle } from './search-page.helpers.ts';

/**
 * Everyone can use the search page (issue 14, items 8-10): an empty result says so, a keyboard
 * alone can choose an image, axe-core finds nothing serious, and a 375 px phone gets a layout.
 */
if (missing) console.warn(`SKIPPED search page accessibility tests: ${CHROMIUM} not found`);

const require = createRequire(import.meta.url);
const PHONE = { width: 375, height: 812 };

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
async function box(page: Page, selector: string): Promise<Box> {
  const b = await page.locator(selector).first().boundingBox();
  if (!b) throw new Error(`${selector} is not on screen`);
  return b;
}

/** axe-core run in the page: the serious and critical violations, as "rule: target" lines. */
async function audit(page: Page): Promise<string[]> {
  const source = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated over the DevTools protocol: the page's CSP (script-src 'self') stays as it is.
  await page.evaluate(source);
  const violations = (await page.evaluate(
    'axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) })))',
  )) as { id: string; impact: string; nodes: string[] }[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n}`));
}

describe.skipIf(missing)('the search page for everyone', () => {
  let t: TestApp;
  let desktop: Browser;
  let phone: Browser;

  beforeAll(async () => {
    t = await startTestApp({ n: 30, overrides: { API_KEY: 'test-key-1234' } });
    desktop = await launchChromium({ width: 1280, height: 900 });
    phone = await launchChromium(PHONE);
  });
  afterAll(async () => {
    await desktop?.close();
    await phone?.close();
    await t?.close();
  });

  it('a keyboard alone chooses an image: Tab to "Choose image…", Enter opens the file chooser', async () => {
    const { page, errors } = await openPage(desktop.context, `${t.url}/`);
    const order: string[] = [];
    for (let i = 0; i < 6 && order.at(-1) !== 'choose'; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate('document.activeElement.id || document.activeElement.textContent'));
    }
    expect(order).toEqual(['GraphQL playground', 'text', 'Search', 'choose']);
    expect(await page.locator('#choose').innerText()).toBe('Choose image…');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Enter')]);
    await chooser.setFiles(path.join(t.samplesDir, t.manifest[0]!.image));
    expect(await settle(page)).toMatch(/^24 results in \d+ ms$/);
    expect(await page.locator('#captions li').count()).toBe(8);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows hostile captions and file names as text: no script runs, the CSP reports nothing', async () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> a red circle';
    const file = path.join(t.dataDir, 'hostile.png');
    await sharp(randomBytes(64 * 64 * 3), { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toFile(file);
    const png = await readFile(file);
    const added = await t.gql(
      'mutation ($input: AddImageInput!) { addImage(input: $input) { image { id } } }',
      {
        input: {
          base64: png.toString('base64'),
          captions: [hostile],
          filename: '<b onmouseover=alert(1)>.png',
        },
      },
      { authorization: 'Bearer test-key-1234' },
    );
    expect(added.errors).toBeUndefined();
    const { page, errors } = await openPage(desktop.context, `${t.url}/?q=${encodeURIComponent(hostile)}`);
    await settle(page);
    const name = '<img src=x onerror="window.pwned=3">.png';
    await page.setInputFiles('#file', { name, mimeType: 'image/png', buffer: png });
    await settle(page);
    const texts = await page.locator('#results .caption').allInnerTexts();
    expect(texts).toContain(hostile);
    expect(await page.locator('#results script, #results img:not(.card > img)').count()).toBe(0);
    expect(await page.getAttribute('#query-preview', 'alt')).toBe(`Your image: ${name}`);
    await page.setInputFiles('#file', { name, mimeType: 'image/png', buffer: Buffer.alloc(0) });
    expect(await settle(page)).toBe(`${name} is empty (0 bytes). Choose an image file.`);
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    expect(errors).toEqual([]);
    await page.close();
  });

  it.each([
    ['desktop', () => desktop],
    ['375 px', () => phone],
  ] as const)(
    'axe-core finds no serious or critical problem (%s): empty, results, image, error',
    async (_n, b) => {
      const { page } = await openPage(b().context, `${t.url}/`);
      expect(await audit(page)).toEqual([]);
      await page.fill('#text', 'a red circle');
      await page.press('#text', 'Enter');
      await settle(page);
      expect(await audit(page)).toEqual([]);
      await page.setInputFiles('#file', path.join(t.samplesDir, t.manifest[0]!.image));
      await settle(page);
      expect(await page.locator('#captions li').count()).toBe(8);
      expect(await audit(page)).toEqual([]);
      await page.setInputFiles('#file', {
        name: 'empty.png',
        mimeType: 'image/png',
        buffer: Buffer.alloc(0),
      });
      await settle(page);
      expect(await page.getAttribute('#status', 'class')).toBe('error');
      expect(await audit(page)).toEqual([]);
      await page.close();
    },
  );

  it('at 375 px: nothing overflows, the header stacks, the placeholder fits, captions sit under the image', async () => {
    const { page, errors } = await openPage(phone.context, `${t.url}/`);
    await page.setInputFiles('#file', path.join(t.samplesDir, t.manifest[0]!.image));
    await settle(page);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
    const [title, nav] = [await box(page, 'header h1'), await box(page, 'header nav')];
    expect(nav.y).toBeGreaterThanOrEqual(title.y + title.height);
    const placeholderFits = await page.evaluate(`(() => {
      const input = document.getElementById('text');
      const style = getComputedStyle(input);
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = style.font;
      const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return ctx.measureText(input.placeholder).width <= room;
    })()`);
    expect(placeholderFits).toBe(true);
    const heading = await box(page, '#captions-title');
    const fontSize = (await page.evaluate(
      "parseFloat(getComputedStyle(document.getElementById('captions-title')).fontSize)",
    )) as number;
    expect(heading.height).toBeLessThan(fontSize * 2); // one line
    const preview = await box(page, '#query-preview');
    expect(heading.y).toBeGreaterThanOrEqual(preview.y + preview.height);
    const cards = (await page.evaluate(
      "[...document.querySelectorAll('#results .card')].slice(0, 3).map((c) => c.getBoundingClientRect().top)",
    )) as number[];
    expect(cards[0]).toBe(cards[1]); // two columns
    expect(cards[2]).toBeGreaterThan(cards[0]!);
    await page.screenshot({ path: path.join(t.dataDir, 'phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('at 375 px the playground puts the response under the query, as wide as the query', async () => {
    const page = await phone.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${t.url}/graphql`);
    await page.locator('.graphiql-execute-button').click({ timeout: 20_000 });
    const result = page.locator('.result-window');
    await expect.poll(() => result.innerText(), { timeout: 20_000 }).toMatch(/"searchImages"/);
    const [editors, response] = [await box(page, '.graphiql-editors'), await box(page, '.graphiql-response')];
    expect(response.width).toBeGreaterThan(250);
    expect(response.width).toBeGreaterThanOrEqual(editors.width - 1);
    expect(response.y).toBeGreaterThanOrEqual(editors.y + editors.height - 1);
    expect(response.height).toBeGreaterThan(200);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe.skipIf(missing)('the search page over an empty index', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ n: 2, index: false });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('says that nothing was found, and what to try', async () => {
    const { page, errors } = await openPage(browser.context, `${t.url}/`);
    await page.fill('#text', 'a red circle');
    await page.press('#text', 'Enter');
    expect(await settle(page)).toBe(
      'Nothing found for “a red circle”. Try fewer or other words, e.g. “a red circle”.',
    );
    expect(await cardIds(page)).toEqual([]);
    expect(await page.isVisible('#more')).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  });
});
