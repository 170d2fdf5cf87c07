import { mkdtemp, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { openIngestContext, reindex, runIngest, type IngestContext } from '../../src/ingest/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { openSource } from '../../src/media/sources/index.ts';
import type { Embedder } from '../../src/models/types.ts';
import { openIndexes } from '../../src/store/vector/index-set.ts';
import { writeFixture, type Fixture } from './fixtures.ts';

let dataDir: string;
let config: Config;
let fixture: Fixture;
let ctx: IngestContext;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'reindex-'));
  config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, DEVICE: 'cpu' } });
  fixture = await writeFixture(path.join(dataDir, 'source'), 8);
  ctx = await openIngestContext(config, silentLogger);
  await runIngest(await openSource(fixture.manifest), ctx, { batchSize: 4 });
  await ctx.indexes.close();
});
afterAll(async () => {
  await ctx?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const deps = (embedder: Embedder) => ({
  config,
  db: ctx.db,
  embedder,
  limits: ctx.limits,
  logger: silentLogger,
});

describe('reindex', () => {
  it('rebuilds the index files from stored vectors when the models did not change', async () => {
    await rm(config.paths.indexes, { recursive: true, force: true });
    const summary = await reindex(deps(ctx.embedder));
    expect(summary).toMatchObject({
      mode: 'rebuild',
      reembeddedImages: 0,
      reembeddedCaptions: 0,
      failed: 0,
      indexedImages: 8,
      indexedCaptions: 17,
    });
    const indexes = await openIndexes({
      config,
      db: ctx.db,
      fingerprint: ctx.embedder.fingerprint,
      dims: ctx.embedder.dims,
      logger: silentLogger,
    });
    expect(indexes.reconciled.image).toMatchObject({ added: 0, deleted: 0 });
    expect(indexes.images.size).toBe(8);
    await indexes.close();
  });

  it('re-embeds every live image from its uri and every caption when the models changed, and reports unreadable files', async () => {
    // New models: same encoders, a different projection fingerprint (and so a different space).
    const newer: Embedder = { ...ctx.embedder, fingerprint: `${ctx.embedder.fingerprint}-v2` };
    const open = () =>
      openIndexes({
        config,
        db: ctx.db,
        fingerprint: newer.fingerprint,
        dims: newer.dims,
        logger: silentLogger,
      });
    await expect(open()).rejects.toMatchObject({
      code: 'MODEL_MISMATCH',
      message: expect.stringContaining('npm run reindex'),
    });

    await unlink(path.join(fixture.dir, 'images', 'img7.jpg'));
    const summary = await reindex(deps(newer), { batchSize: 3 });
    expect(summary).toMatchObject({
      mode: 're-embed',
      reembeddedImages: 7,
      reembeddedCaptions: 17,
      failed: 1,
      indexedImages: 7,
      indexedCaptions: 17,
    });
    expect(summary.topFailures).toEqual([
      { code: 'NOT_FOUND', count: 1, example: expect.stringContaining('img7.jpg') },
    ]);

    // Resumable: a second run only retries what still lacks a vector.
    const again = await reindex(deps(newer), { batchSize: 3 });
    expect(again).toMatchObject({ mode: 're-embed', reembeddedImages: 0, reembeddedCaptions: 0, failed: 1 });

    // The rest of the collection is searchable with the new models.
    const indexes = await open();
    expect(indexes.images.size).toBe(7);
    await indexes.close();
  });

  it('refuses to open after a reindex stopped part way, naming npm run reindex, until one goes to the end', async () => {
    const newer: Embedder = { ...ctx.embedder, fingerprint: `${ctx.embedder.fingerprint}-v3` };
    const open = () =>
      openIndexes({
        config,
        db: ctx.db,
        fingerprint: newer.fingerprint,
        dims: newer.dims,
        logger: silentLogger,
      });
    const stop = new AbortController();
    const stopped = await reindex(deps(newer), {
      batchSize: 3,
      signal: stop.signal,
      onProgress: () => stop.abort(),
    });
    expect(stopped).toMatchObject({ mode: 're-embed', reembeddedImages: 3, stopped: true, indexedImages: 0 });
    await expect(open()).rejects.toMatchObject({
      code: 'REINDEX_INCOMPLETE',
      message: expect.stringMatching(/stopped part way: 3 live images .*npm run reindex/),
    });

    const finished = await reindex(deps(newer), { batchSize: 3 });
    expect(finished).toMatchObject({ stopped: false, reembeddedImages: 4 });
    const indexes = await open();
    expect(indexes.images.size).toBe(7);
    await indexes.close();
  });
});
