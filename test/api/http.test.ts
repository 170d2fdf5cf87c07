import { readdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './fixture.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ n: 10 });
});
afterAll(async () => {
  await t?.close();
});

describe('HTTP routes', () => {
  it('/healthz and /readyz', async () => {
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('answers the browser favicon request with an empty 204, not a 404', async () => {
    const res = await fetch(`${t.url}/favicon.ico`);
    expect(res.status).toBe(204);
  });

  it('/metrics exposes operation latency, encoder batch sizes and index sizes', async () => {
    await t.gql(`{ searchImages(text: "a red circle", first: 2) { edges { score } } }`);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(
      /graphql_operation_duration_seconds_count\{operation="searchImages",outcome="ok"\} \d+/,
    );
    expect(text).toMatch(/encoder_batch_size_count\{kind="text"\} \d+/);
    expect(text).toMatch(/index_vectors\{kind="image"\} 10/);
    expect(text).toMatch(/index_vectors\{kind="caption"\} 20/);
    expect(text).toMatch(/http_request_duration_seconds_count\{route="graphql",status="200"\}/);
  });

  it('/media/:id/thumbnail renders a WebP once and serves it from the disk cache', async () => {
    const [id] = await t.app.repositories.images.filterIds({}, 1);
    const first = await fetch(`${t.url}/media/${id}/thumbnail`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/webp');
    const bytes = Buffer.from(await first.arrayBuffer());
    expect(bytes.subarray(8, 12).toString('ascii')).toBe('WEBP');
    const cached = await readdir(path.join(t.dataDir, 'cache', 'thumbs'));
    expect(cached.some((f) => f.endsWith('-256.webp'))).toBe(true);
    const second = Buffer.from(await (await fetch(`${t.url}/media/${id}/thumbnail`)).arrayBuffer());
    expect(second.equals(bytes)).toBe(true);
    expect((await fetch(`${t.url}/media/999999/thumbnail`)).status).toBe(404);
    expect((await fetch(`${t.url}/media/abc/thumbnail`)).status).toBe(400);
  });

  it('concurrent first thumbnail requests for one image all succeed with the same bytes', async () => {
    const ids = await t.app.repositories.images.filterIds({}, 3);
    const id = ids[2]!;
    const answers = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const res = await fetch(`${t.url}/media/${id}/thumbnail`);
        return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 12 }, () => 200));
    expect(answers.every((a) => a.body.equals(answers[0]!.body))).toBe(true);
    const left = await readdir(path.join(t.dataDir, 'cache', 'thumbs'));
    expect(left.filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('counts a thumbnail 404 under the thumbnail route in /metrics', async () => {
    expect((await fetch(`${t.url}/media/888888/thumbnail`)).status).toBe(404);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/http_request_duration_seconds_count\{route="thumbnail",status="404"\} [1-9]/);
    expect(text).not.toMatch(/route="unknown"/);
  });

  it('a stored original that does not decode is INVALID_IMAGE (422); one that is gone is NOT_FOUND', async () => {
    const rows = await t.app.db.query<{ id: number; uri: string }>(
      'SELECT id, uri FROM images ORDER BY id DESC LIMIT 2',
    );
    const [corrupt, gone] = rows.map((r) => ({ id: r.id, file: fileURLToPath(r.uri) }));
    await writeFile(corrupt!.file, 'not an image at all');
    await rm(gone!.file);
    const answer = async (id: number) => {
      const res = await fetch(`${t.url}/media/${id}/thumbnail`);
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      return { status: res.status, code: body.errors[0]!.extensions.code, message: body.errors[0]!.message };
    };
    expect(await answer(corrupt!.id)).toEqual({
      status: 422,
      code: 'INVALID_IMAGE',
      message: `The original of image ${corrupt!.id} cannot be decoded`,
    });
    expect(await answer(gone!.id)).toEqual({
      status: 404,
      code: 'NOT_FOUND',
      message: `The original of image ${gone!.id} is no longer on this server`,
    });
  });

  it('GET /graphql in a browser is the offline playground, with every asset served locally', async () => {
    const page = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).toMatch(/graphiql/i);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(5);
    for (const ref of refs) {
      expect(ref.startsWith('/'), ref).toBe(true);
      expect((await fetch(`${t.url}${ref}`)).status, ref).toBe(200);
    }
  });

  it('/ is the search page, its assets local', async () => {
    const html = await (await fetch(`${t.url}/`)).text();
    expect(html).toMatch(/<form id="text-form"/);
    for (const ref of [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!)) {
      expect((await fetch(`${t.url}${ref}`, { headers: { accept: 'text/html,*/*' } })).status, ref).toBe(200);
    }
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('unknown paths are 404 JSON; other methods 405', async () => {
    const r = await fetch(`${t.url}/nope`);
    expect(r.status).toBe(404);
    expect(
      ((await r.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
    ).toBe('NOT_FOUND');
    expect((await fetch(`${t.url}/graphql`, { method: 'PUT' })).status).toBe(405);
    expect((await fetch(`${t.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight requests, then refuses new connections and saves the index', async () => {
    const app = await startTestApp({ n: 4 });
    // Close the moment the server has received the request: it is in flight, not merely sent.
    let closing: Promise<void> | undefined;
    app.app.server.server.once('request', () => {
      closing = app.app.close();
    });
    const result = await app.gql<{ searchImages: { edges: unknown[] } }>(
      `{ searchImages(text: "a blue square", first: 3) { edges { score } } }`,
    );
    expect(result.data!.searchImages.edges).toHaveLength(3);
    // The close began while the request was in flight, and it completes after answering it.
    expect(closing).toBeInstanceOf(Promise);
    await expect(closing).resolves.toBeUndefined();
    await expect(fetch(`${app.url}/healthz`)).rejects.toThrow();
    const files = await readdir(path.join(app.dataDir, 'indexes'), { recursive: true });
    expect(files.some((f) => String(f).endsWith('manifest.json'))).toBe(true);
    await app.close().catch(() => undefined);
  });
});
