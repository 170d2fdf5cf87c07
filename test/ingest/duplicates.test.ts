/**
 * What a duplicate brings is kept, and a repeat is never recorded as done unless its content is
 * stored: issue 9, items 6 and 9. Against embedded PGlite and the test PostgreSQL server.
 */
import { hnswOf } from '../setup/hnsw-of.ts';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ingestOne, openIngestContext, runIngest, type IngestContext } from '../../src/ingest/index.ts';
import { isDuplicate } from '../../src/ingest/items.ts';
import { markDuplicates, storeBatch } from '../../src/ingest/steps.ts';
import { decodeImage } from '../../src/media/image-decode.ts';
import { silentLogger } from '../../src/logger.ts';
import { openSource } from '../../src/media/sources/index.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import { IngestRepository } from '../../src/store/ingest.repository.ts';
import { announceSkip, backends, createPostgresDatabase } from '../setup/databases.ts';
import { writeFixture } from './fixtures.ts';

describe.each(backends)('duplicates in the indexer [$name]', (backend) => {
  const skip = announceSkip(backend, 'ingest duplicates');
  let dataDir: string;
  let ctx: IngestContext;
  let dropDb: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (skip) return;
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-dup-'));
    const pg = backend.name === 'postgres' ? await createPostgresDatabase() : undefined;
    dropDb = pg?.drop;
    const config = loadConfig({
      env: {},
      overrides: { DATA_DIR: dataDir, DEVICE: 'cpu', ...(pg ? { DATABASE_URL: pg.url } : {}) },
    });
    ctx = await openIngestContext(config, silentLogger);
  });
  afterAll(async () => {
    await ctx?.close();
    await dropDb?.();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Caption texts per image uri, and whether every stored caption is in the caption index. */
  async function captionsByFile(): Promise<{ byFile: Record<string, string[]>; allIndexed: boolean }> {
    const rows = await ctx.db.query<{ id: number; uri: string; text: string }>(
      'SELECT c.id, i.uri, c.text FROM captions c JOIN images i ON i.id = c.image_id ORDER BY c.id',
    );
    const byFile: Record<string, string[]> = {};
    for (const r of rows) (byFile[path.basename(r.uri)] ??= []).push(r.text);
    return { byFile, allIndexed: rows.every((r) => hnswOf(ctx.indexes).captions.has(r.id)) };
  }

  it.skipIf(skip)(
    'a manifest re-listing images first indexed as a folder attaches their captions; exact repeats are skipped',
    async () => {
      const fixture = await writeFixture(path.join(dataDir, 'six'), 3);
      const folder = await runIngest(await openSource(path.join(fixture.dir, 'images')), ctx, {
        batchSize: 4,
      });
      // In name order: copy.jpg (img1's bytes) is stored first and img1.jpg repeats it in the
      // same batch; corrupt.jpg fails.
      expect(folder).toMatchObject({ indexed: 3, duplicates: 1, failed: 1, captions: 0 });

      const manifest = await runIngest(await openSource(fixture.manifest), ctx, { batchSize: 4 });
      expect(manifest).toMatchObject({
        indexed: 0,
        duplicates: 4,
        failed: 3,
        captions: 7,
        attachedCaptions: 7,
      });
      expect(await captionsByFile()).toEqual({
        byFile: {
          'copy.jpg': ['picture 1', 'colour block 1', 'same bytes as img1'],
          'img0.jpg': ['picture 0', 'colour block 0'],
          'img2.jpg': ['picture 2', 'colour block 2'],
        },
        allIndexed: true,
      });
      expect(hnswOf(ctx.indexes).captions.size).toBe(7);

      // A third listing: one caption already there, one new, and the new one twice.
      const again = path.join(fixture.dir, 'again.jsonl');
      await writeFile(
        again,
        `${JSON.stringify({ image: 'images/img0.jpg', captions: ['picture 0', 'a later note', 'a later note'], metadata: { n: 99 } })}\n`,
      );
      expect(await runIngest(await openSource(again), ctx)).toMatchObject({
        duplicates: 1,
        captions: 1,
        attachedCaptions: 1,
      });
      const after = await captionsByFile();
      expect(after.byFile['img0.jpg']).toEqual(['picture 0', 'colour block 0', 'a later note']);
      expect(after.allIndexed).toBe(true);
      // The stored image keeps the metadata of its first listing.
      const meta = await ctx.db.query<{ metadata: unknown }>(
        "SELECT metadata FROM images WHERE uri LIKE '%/six/images/img0.jpg'",
      );
      expect(meta).toEqual([{ metadata: { path: 'img0.jpg' } }]);
    },
  );

  it.skipIf(skip)(
    'a repeat whose first copy the database refused is stored on its own, not recorded as a duplicate',
    async () => {
      const fixture = await writeFixture(path.join(dataDir, 'nine'), 2, 500);
      const lines = (await readFile(fixture.manifest, 'utf8')).split('\n');
      // One batch: img0, img1 with a caption PostgreSQL refuses (NUL), then img1's bytes again.
      const manifest = path.join(fixture.dir, 'nine.jsonl');
      await writeFile(
        manifest,
        [
          lines[0],
          JSON.stringify({ image: 'images/img1.jpg', captions: ['a NUL \u0000 byte'] }),
          JSON.stringify({ image: 'images/copy.jpg', captions: ['a clean copy'] }),
        ].join('\n'),
      );
      const source = await openSource(manifest);
      const summary = await runIngest(source, ctx, { batchSize: 3 });
      expect(summary).toMatchObject({ indexed: 2, duplicates: 0, failed: 1, captions: 3 });

      const ledger = await new IngestRepository(ctx.db).statuses(source.id, [
        'images/img0.jpg',
        'images/img1.jpg',
        'images/copy.jpg',
      ]);
      expect(Object.fromEntries(ledger)).toEqual({
        'images/img0.jpg': { status: 'indexed', attempts: 1 },
        'images/img1.jpg': { status: 'failed', attempts: 1 },
        'images/copy.jpg': { status: 'indexed', attempts: 1 },
      });
      const copy = await ctx.db.query<{ id: number; ledger_image: number; text: string }>(
        `SELECT i.id, l.image_id AS ledger_image, c.text FROM ingest_items l
         JOIN images i ON i.id = l.image_id JOIN captions c ON c.image_id = i.id
         WHERE l.source = $1 AND l.item_key = 'images/copy.jpg'`,
        [source.id],
      );
      expect(copy).toEqual([{ id: expect.any(Number), ledger_image: copy[0]!.id, text: 'a clean copy' }]);
      expect(hnswOf(ctx.indexes).images.has(copy[0]!.id)).toBe(true);

      // The failed first copy, retried, is now a duplicate of the stored repeat: its row says so.
      await writeFile(
        manifest,
        [lines[0], JSON.stringify({ image: 'images/img1.jpg', captions: ['fixed'] }), ''].join('\n'),
      );
      const retried = await runIngest(await openSource(manifest), ctx, { retryFailed: true });
      expect(retried).toMatchObject({ duplicates: 1, failed: 0, skipped: 1, attachedCaptions: 1 });
      const fixed = await new IngestRepository(ctx.db).statuses(source.id, ['images/img1.jpg']);
      expect(fixed.get('images/img1.jpg')).toEqual({ status: 'duplicate', attempts: 2 });
    },
  );

  it.skipIf(skip)(
    'a copy of an image deleted after the duplicate check is recorded as failed, and a retry stores it',
    async () => {
      const bytes = await sharp({ create: { width: 36, height: 28, channels: 3, background: '#a0c030' } })
        .png()
        .toBuffer();
      const first = await ingestOne({ bytes, captions: ['a green card'] }, ctx);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const decoded = {
        key: 'again.png',
        uri: 'upload:again',
        captions: [],
        metadata: {},
        sha256,
        pixels: await decodeImage(bytes, ctx.embedder.preprocess, ctx.limits),
      };
      const checked = await markDuplicates(ctx.db, [decoded]);
      expect(checked).toEqual([{ key: 'again.png', sha256, duplicateOf: first.imageId, captions: [] }]);
      await new ImagesRepository(ctx.db).softDelete(first.imageId);
      const { outcomes } = await storeBatch(
        { db: ctx.db, indexes: ctx.indexes },
        checked.filter(isDuplicate),
      );
      expect(outcomes).toEqual([
        { key: 'again.png', status: 'failed', code: 'NOT_FOUND', error: expect.stringMatching(/deleted/) },
      ]);
      // Retried, the bytes are no longer a duplicate: the image comes back.
      expect(await ingestOne({ bytes }, ctx)).toEqual({
        status: 'indexed',
        imageId: first.imageId,
        captionIds: [],
      });
      expect(hnswOf(ctx.indexes).images.has(first.imageId)).toBe(true);
    },
  );
});
