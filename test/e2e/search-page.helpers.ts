import type { BrowserContext, Page, Request, Route } from 'playwright-core';
import { expect } from 'vitest';

/** A page of the search UI with its console errors and the GraphQL requests it sent. */
export interface OpenPage {
  page: Page;
  errors: string[];
  requests: { query: string; variables: Record<string, unknown> }[];
}

export async function openPage(context: BrowserContext, url: string): Promise<OpenPage> {
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: OpenPage['requests'] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('request', (r: Request) => {
    if (!r.url().endsWith('/graphql') || r.method() !== 'POST') return;
    const body = JSON.parse(r.postData() ?? '{}') as OpenPage['requests'][number];
    requests.push({ query: body.query, variables: body.variables ?? {} });
  });
  await page.goto(url);
  await expect.poll(() => page.locator('#info').innerText()).toMatch(/\d+ images/);
  return { page, errors, requests };
}

/** Holds back GraphQL requests whose body matches until `release()`; the rest go through. */
export async function holdRequests(
  page: Page,
  match: (body: string) => boolean,
): Promise<{ release: () => void; held: () => number; settled: Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  let markSettled!: () => void;
  const settled = new Promise<void>((resolve) => (markSettled = resolve));
  await page.route('**/graphql', async (route: Route) => {
    if (!match(route.request().postData() ?? '')) return route.continue();
    held++;
    await gate;
    // The page may have aborted it meanwhile: then there is nothing left to continue.
    await route.continue().catch(() => undefined);
    markSettled();
  });
  return { release, held: () => held, settled };
}

export async function cardIds(page: Page): Promise<string[]> {
  return page
    .locator('#results .card')
    .evaluateAll((cards) => cards.map((c) => (c as unknown as { dataset: { id: string } }).dataset.id));
}

/** Waits until no request of the page is in flight; returns the status line. */
export async function settle(page: Page): Promise<string> {
  await expect
    .poll(() => page.locator('#results').getAttribute('aria-busy'), { timeout: 20_000 })
    .toBe('false');
  return page.locator('#status').innerText();
}
