import { hnswOf } from '../setup/hnsw-of.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import {
  dryRunIngest,
  ingestOne,
  openIngestContext,
  runIngest,
  type IngestContext,
} from '../../src/ingest/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { openSource } from '../../src/media/sources/index.ts';
import { IngestRepository } from '../../src/store/ingest.repository.ts';
import { writeFixture, type Fixture } from './fixtures.ts';

let dataDir: string;
let config: Config;
let fixture: Fixture;
let ctx: IngestContext;

async function count(sql: string): Promise<number> {
  const rows = await ctx.db.query<{ n: number }>(sql);
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-pipeline-'));
  config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, DEVICE: 'cpu' } });
  fixture = await writeFixture(path.join(dataDir, 'source'), 12);
  ctx = await openIngestContext(config, silentLogger);
});
afterAll(async () => {
  await ctx?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('runIngest', () => {
  it('a run whose source throws part way is still closed in the ledger: finished_at set, status failed, the reason kept', async () => {
    const real = await openSource(fixture.manifest);
    // A reader that fails after four items, as one whose disk goes away would.
    const failing = {
      ...real,
      id: `${real.id}#throws`,
      async *items() {
        let n = 0;
        for await (const item of real.items()) {
          if (++n > 4) throw new Error('the source disk went away');
          yield item;
        }
      },
    };
    await expect(runIngest(failing, ctx, { batchSize: 2, concurrency: 1 })).rejects.toThrow(
      'the source disk went away',
    );
    const [run] = await ctx.db.query<{ finished: boolean; status: string; error: string }>(
      `SELECT finished_at IS NOT NULL AS finished, summary->>'status' AS status, summary->>'error' AS error
       FROM ingest_runs WHERE source = $1`,
      [failing.id],
    );
    expect(run).toEqual({ finished: true, status: 'failed', error: 'the source disk went away' });
  });

  it("indexes good items, attaches a duplicate's captions and records bad items with reasons while the run goes on", async () => {
    const source = await openSource(fixture.manifest);
    const progress: number[] = [];
    const summary = await runIngest(source, ctx, {
      batchSize: 4,
      concurrency: 3,
      onProgress: (p) => progress.push(p.done),
    });
    // copy.jpg repeats img1's bytes: no new image, but its caption is attached to img1.
    expect(summary).toMatchObject({
      indexed: 12,
      duplicates: 1,
      failed: 3,
      skipped: 0,
      captions: 25,
      attachedCaptions: 1,
    });
    expect(Object.fromEntries(summary.topFailures.map((f) => [f.code, f.count]))).toEqual(fixture.bad);
    expect(progress.at(-1)).toBe(16);

    expect(await count('SELECT count(*) AS n FROM images')).toBe(12);
    expect(await count('SELECT count(*) AS n FROM captions')).toBe(25);
    expect(await count('SELECT count(*) AS n FROM image_vectors')).toBe(12);
    expect(await count('SELECT count(*) AS n FROM caption_vectors')).toBe(25);
    expect(hnswOf(ctx.indexes).images.size).toBe(12);
    expect(hnswOf(ctx.indexes).captions.size).toBe(25);

    const failures = await new IngestRepository(ctx.db).failures(source.id, 10);
    expect(failures.map((f) => [f.key, f.error.split(':')[0]])).toEqual([
      ['../../etc/passwd', 'FORBIDDEN'],
      ['images/corrupt.jpg', 'INVALID_IMAGE'],
      ['images/missing.jpg', 'NOT_FOUND'],
    ]);
    const statuses = await new IngestRepository(ctx.db).statuses(source.id, [
      'images/copy.jpg',
      'images/img1.jpg',
    ]);
    expect(statuses.get('images/copy.jpg')?.status).toBe('duplicate');
    expect(statuses.get('images/img1.jpg')?.status).toBe('indexed');
  });

  it('stores each image with its metadata and finds it by its own vector', async () => {
    const rows = await ctx.db.query<{ id: number; uri: string; metadata: { n: number }; format: string }>(
      "SELECT id, uri, metadata, format FROM images WHERE metadata->>'n' = '5'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.uri).toBe(`file://${path.join(fixture.dir, 'images', 'img5.jpg')}`);
    expect(rows[0]!.format).toBe('jpeg');
    const { VectorsRepository } = await import('../../src/store/vectors.repository.ts');
    const vector = (
      await new VectorsRepository(ctx.db).get('image', ctx.embedder.fingerprint, [rows[0]!.id])
    ).get(rows[0]!.id)!;
    expect(hnswOf(ctx.indexes).images.search(vector, 1)[0]).toMatchObject({
      id: rows[0]!.id,
      score: expect.closeTo(1, 4),
    });
  });

  it('skips everything on a second run, and retries only failures when asked', async () => {
    const source = await openSource(fixture.manifest);
    expect(await runIngest(source, ctx, { batchSize: 4 })).toMatchObject({
      indexed: 0,
      duplicates: 0,
      failed: 0,
      skipped: 16,
    });
    const retried = await runIngest(source, ctx, { batchSize: 4, retryFailed: true });
    expect(retried).toMatchObject({ indexed: 0, failed: 3, skipped: 13 });
    expect(await count('SELECT count(*) AS n FROM images')).toBe(12);
    const attempts = await new IngestRepository(ctx.db).statuses(source.id, ['images/missing.jpg']);
    expect(attempts.get('images/missing.jpg')).toEqual({ status: 'failed', attempts: 2 });
  });

  it('records an item the database refuses as failed and stores the rest of its batch', async () => {
    const dir = path.join(dataDir, 'nul');
    const more = await writeFixture(dir, 3, 100);
    const { writeFile } = await import('node:fs/promises');
    const lines = (await readFile(more.manifest, 'utf8')).split('\n').slice(0, 3);
    lines[1] = JSON.stringify({ image: 'images/img1.jpg', captions: ['a NUL \u0000 byte'] });
    await writeFile(more.manifest, lines.join('\n'));
    const source = await openSource(more.manifest);
    const summary = await runIngest(source, ctx, { batchSize: 3 });
    expect(summary).toMatchObject({ indexed: 2, failed: 1 });
    const [failed] = await new IngestRepository(ctx.db).failures(source.id, 10);
    expect(failed).toMatchObject({ key: 'images/img1.jpg', error: expect.stringMatching(/0x00|null|NUL/i) });
  });

  it('honours --limit by counting only unfinished items', async () => {
    const more = await writeFixture(path.join(dataDir, 'more'), 5, 200);
    const source = await openSource(more.manifest);
    expect(await runIngest(source, ctx, { batchSize: 2, limit: 3 })).toMatchObject({ done: 3, skipped: 0 });
    expect(await runIngest(source, ctx, { batchSize: 2, limit: 3 })).toMatchObject({ done: 3, skipped: 3 });
  });
});

describe('dryRunIngest', () => {
  it('reads, hashes and decodes everything and reports outcomes without writing', async () => {
    const before = await count('SELECT count(*) AS n FROM ingest_items');
    const dry = await writeFixture(path.join(dataDir, 'dry'), 4, 300);
    const summary = await dryRunIngest(await openSource(dry.manifest), {
      preprocess: ctx.embedder.preprocess,
      limits: ctx.limits,
    });
    expect(summary).toMatchObject({ indexed: 4, duplicates: 1, failed: 3, captions: 8 });
    expect(await count('SELECT count(*) AS n FROM ingest_items')).toBe(before);
  });
});

describe('ingestOne', () => {
  it('indexes a new image with its captions; the same bytes again attach only captions it lacks', async () => {
    const sharp = (await import('sharp')).default;
    const bytes = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#123456' } })
      .png()
      .toBuffer();
    const before = hnswOf(ctx.indexes).images.size;
    const first = await ingestOne(
      { bytes, captions: ['a dark blue card', ' '], metadata: { via: 'api' } },
      ctx,
    );
    expect(first).toMatchObject({ status: 'indexed', captionIds: [expect.any(Number)] });
    expect(hnswOf(ctx.indexes).images.size).toBe(before + 1);
    expect(hnswOf(ctx.indexes).captions.has(first.captionIds[0]!)).toBe(true);
    const again = await ingestOne({ bytes, captions: ['a later note', 'a dark blue card'] }, ctx);
    expect(again).toEqual({ status: 'duplicate', imageId: first.imageId, captionIds: [expect.any(Number)] });
    expect(hnswOf(ctx.indexes).captions.has(again.captionIds[0]!)).toBe(true);
    const third = await ingestOne({ bytes, captions: ['a later note'] }, ctx);
    expect(third).toEqual({ status: 'duplicate', imageId: first.imageId, captionIds: [] });
    expect(hnswOf(ctx.indexes).images.size).toBe(before + 1);
  });

  it('refuses bytes that are not an image with INVALID_IMAGE and stores nothing', async () => {
    const before = await count('SELECT count(*) AS n FROM images');
    await expect(ingestOne({ bytes: Buffer.from('hello') }, ctx)).rejects.toMatchObject({
      code: 'INVALID_IMAGE',
    });
    await expect(ingestOne({ bytes: await readFile(fixture.manifest) }, ctx)).rejects.toMatchObject({
      code: 'INVALID_IMAGE',
    });
    expect(await count('SELECT count(*) AS n FROM images')).toBe(before);
  });
});
