import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { trainClassifier } from '../../src/train/train-classifier.ts';
import { startTestApp, type TestApp } from '../api/fixture.ts';
import { CHROMIUM, chromiumMissing as missing, launchChromium, type Browser } from './chromium.ts';

/**
 * The search page's Describe panel in a real browser: drop an image, see zero-shot labels ranked
 * from the editable list, and the trained match classifier's score of a typed text.
 * SCREENSHOT_DIR, when set, receives describe.png (else the test's data directory).
 */
if (missing)
  console.warn(`SKIPPED describe panel tests: ${CHROMIUM} not found (apt-get install -y chromium)`);

describe.skipIf(missing)('the Describe panel', () => {
  let t: TestApp;
  let context: BrowserContext;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({ n: 40 });
    await trainClassifier(
      t.app.config,
      {
        task: 'match',
        dataPath: path.join(t.samplesDir, 'manifest.jsonl'),
        encoders: t.app.encoders,
        epochs: 2,
        seed: 3,
      },
      silentLogger,
    );
    browser = await launchChromium({ width: 1100, height: 900 });
    context = browser.context;
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('for a dropped image, on request, ranks the editable labels and scores the typed text', async () => {
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    // A CSP violation (inline script or style) shows up as a console error.
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(`${t.url}/`);
    expect(await page.locator('#describe').isHidden()).toBe(true);
    await page.fill('#text', 'a small red circle on the left');
    await page.setInputFiles('#file', path.join(t.samplesDir, t.manifest[0]!.image));
    await expect.poll(() => page.locator('#describe').isVisible(), { timeout: 30_000 }).toBe(true);
    // Nothing is sent until asked: describing uploads the image again.
    expect(await page.locator('#describe-ranked li').count()).toBe(0);
    await page.click('#describe-labels-form button');
    await page.click('#describe-match-form button');

    const ranked = page.locator('#describe-ranked li');
    await expect.poll(() => ranked.count(), { timeout: 30_000 }).toBe(5);
    const rows = await ranked.allInnerTexts();
    const probabilities = rows.map((r) => Number(/([\d.]+)%/.exec(r)![1]));
    expect(probabilities).toEqual([...probabilities].sort((a, b) => b - a));
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
    await expect
      .poll(() => page.locator('#describe-match').innerText(), { timeout: 30_000 })
      .toMatch(/^match probability \d+\.\d% $/);
    expect(await page.locator('#describe-text').inputValue()).toBe('a small red circle on the left');

    // Edited labels are ranked again: only the two given.
    await page.fill('#describe-labels', 'a blue square, a yellow star');
    await page.click('#describe-labels-form button');
    await expect.poll(() => ranked.count(), { timeout: 30_000 }).toBe(2);
    expect((await ranked.allInnerTexts()).map((r) => r.split('\n')[0]).sort()).toEqual([
      'a blue square',
      'a yellow star',
    ]);
    await page.fill(
      '#describe-labels',
      'a red circle, a blue square, a green triangle, a yellow star, an orange shape',
    );
    await page.click('#describe-labels-form button');
    await expect.poll(() => ranked.count(), { timeout: 30_000 }).toBe(5);

    const shot = path.join(process.env['SCREENSHOT_DIR'] ?? t.dataDir, 'describe.png');
    await page.locator('#describe').scrollIntoViewIfNeeded();
    await page.screenshot({ path: shot, fullPage: false });
    expect(existsSync(shot)).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });
});
