import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import { openDb } from '../../src/store/open-db.ts';
import { VectorsRepository } from '../../src/store/vectors.repository.ts';
import { fingerprintDir, openIndexes, readManifest } from '../../src/store/vector/index.ts';
import { row, unitVectors } from './vectors.ts';

const DIMS = 16;
const FP = 'tiny-bert:abc+tiny-resnet:def+proj:initial:42';
let dataDir: string;
let config: Config;
let db: Db;
let counter = 0;

/** Inserts `n` images with one caption each, with vectors for `fingerprint`, as the pipeline would. */
async function insertImages(
  n: number,
  fingerprint = FP,
): Promise<{ imageIds: number[]; captionIds: number[] }> {
  const imageIds: number[] = [];
  const captionIds: number[] = [];
  await db.transaction(async (tx) => {
    const images = new ImagesRepository(tx);
    const vectors = new VectorsRepository(tx);
    for (let i = 0; i < n; i++) {
      const seed = ++counter;
      const sha256 = createHash('sha256').update(`image-${seed}`).digest('hex');
      const { image, captions } = await images.insertWithCaptions(
        { sha256, uri: `file:///img/${seed}.jpg`, width: 10, height: 10, format: 'jpeg', bytes: 100 },
        [`caption ${seed}`],
      );
      const v = unitVectors(2, DIMS, seed);
      await vectors.upsert('image', fingerprint, [{ id: image.id, vector: row(v, 0, DIMS) }]);
      await vectors.upsert('caption', fingerprint, [{ id: captions[0]!.id, vector: row(v, 1, DIMS) }]);
      imageIds.push(image.id);
      captionIds.push(captions[0]!.id);
    }
  });
  return { imageIds, captionIds };
}

async function liveIds(kind: 'image' | 'caption'): Promise<number[]> {
  const rows = await new VectorsRepository(db).scan(kind, FP, { afterId: 0, limit: 10_000 });
  return rows.map((r) => r.id);
}

const open = (extra: { fingerprint?: string; dims?: number; rebuild?: boolean } = {}) =>
  openIndexes({ config, db, fingerprint: FP, dims: DIMS, logger: silentLogger, ...extra });

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'index-set-'));
  config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
  db = await openDb(config);
});
afterAll(async () => {
  await db?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('openIndexes', () => {
  it('builds both indexes from Postgres, saves them atomically and reopens them without re-adding', async () => {
    const { imageIds, captionIds } = await insertImages(20);
    const first = await open();
    expect(first.reconciled.image).toMatchObject({ added: 20, deleted: 0 });
    expect(first.images.size).toBe(20);
    expect(first.captions.size).toBe(20);
    await first.close();

    const dir = path.join(config.paths.indexes, fingerprintDir(FP));
    const manifest = await readManifest(dir);
    expect(manifest).toMatchObject({
      fingerprint: FP,
      dims: DIMS,
      generation: 1,
      params: { m: 16, efConstruction: 200, ef: 64 },
      indexes: {
        image: { count: 20, maxId: Math.max(...imageIds) },
        caption: { count: 20, maxId: Math.max(...captionIds) },
      },
    });
    expect((await readdir(dir)).sort()).toEqual(['caption.1.hnsw', 'image.1.hnsw', 'manifest.json']);

    const again = await open();
    expect(again.reconciled.image).toMatchObject({ added: 0, deleted: 0, fullScan: false });
    expect(again.images.ids().sort((a, b) => a - b)).toEqual(imageIds);
    const v = unitVectors(2, DIMS, counter - 3);
    expect(again.images.search(row(v, 0, DIMS), 1)[0]).toMatchObject({
      id: imageIds[16],
      score: expect.closeTo(1, 5),
    });
    expect(await again.checkpoint()).toBe(false);
    await again.close();
  });

  it('after a crash between the database commit and the checkpoint, adds what is missing and applies deletes, once', async () => {
    const set = await open();
    const committed = await insertImages(5);
    set.add('image', committed.imageIds, await vectorsOf('image', committed.imageIds));
    set.add('caption', committed.captionIds, await vectorsOf('caption', committed.captionIds));
    await set.checkpoint();
    // "Crash": these rows commit, but the process dies before the index is saved.
    const lost = await insertImages(7);
    set.add('image', lost.imageIds, await vectorsOf('image', lost.imageIds));
    await new ImagesRepository(db).softDelete(committed.imageIds[0]!);

    const reopened = await open();
    expect(reopened.reconciled.image).toMatchObject({ added: 7, deleted: 1 });
    expect(reopened.reconciled.caption).toMatchObject({ added: 7, deleted: 1 });
    expect(reopened.images.ids().sort((a, b) => a - b)).toEqual(await liveIds('image'));
    expect(reopened.captions.ids().sort((a, b) => a - b)).toEqual(await liveIds('caption'));
    await reopened.close();
    const third = await open();
    expect(third.reconciled.image).toMatchObject({ added: 0, deleted: 0 });
    await third.close();
  });

  it('finds vectors committed out of id order with a full comparison', async () => {
    const set = await open();
    await set.close();
    const { imageIds } = await insertImages(3);
    // The index claims to include everything up to the newest id, but misses an older one.
    const later = await open();
    later.markDeleted('image', [imageIds[0]!]);
    await later.close();
    const reopened = await open();
    expect(reopened.reconciled.image).toMatchObject({ fullScan: true, added: 1 });
    expect(reopened.images.has(imageIds[0]!)).toBe(true);
    expect(reopened.images.ids().sort((a, b) => a - b)).toEqual(await liveIds('image'));
    await reopened.close();
  });

  it('keeps files consistent when vectors are added while checkpoints are being written', async () => {
    const set = await open();
    const batches = await Promise.all([insertImages(3), insertImages(3), insertImages(3)]);
    const work: Promise<unknown>[] = [];
    for (const b of batches) {
      work.push(set.checkpoint());
      const vectors = await vectorsOf('image', b.imageIds);
      await new Promise((resolve) => setImmediate(resolve));
      set.add('image', b.imageIds, vectors);
      set.add('caption', b.captionIds, await vectorsOf('caption', b.captionIds));
    }
    await Promise.all(work);
    await set.close();
    const reopened = await open();
    expect(reopened.reconciled.image).toMatchObject({ added: 0, deleted: 0, fullScan: false });
    expect(reopened.images.ids().sort((a, b) => a - b)).toEqual(await liveIds('image'));
    await reopened.close();
  });

  it('refuses an index built with other models, naming npm run reindex', async () => {
    await expect(open({ dims: DIMS * 2 })).rejects.toMatchObject({
      code: 'MODEL_MISMATCH',
      message: expect.stringContaining('npm run reindex'),
    });
    // A directory copied under another fingerprint's name still carries its own fingerprint.
    const other = 'other-models';
    await cp(
      path.join(config.paths.indexes, fingerprintDir(FP)),
      path.join(config.paths.indexes, fingerprintDir(other)),
      { recursive: true },
    );
    await expect(
      openIndexes({
        config,
        db,
        fingerprint: other,
        dims: DIMS,
        logger: silentLogger,
        allowMissingVectors: true,
      }),
    ).rejects.toMatchObject({
      code: 'MODEL_MISMATCH',
    });
  });

  it('refuses new models while Postgres holds images embedded only with the old ones', async () => {
    await expect(open({ fingerprint: 'new-models' })).rejects.toMatchObject({
      code: 'MODEL_MISMATCH',
      message: expect.stringMatching(/new-models.*npm run reindex/),
    });
  });

  it('rebuild ignores a corrupt manifest and rebuilds from Postgres', async () => {
    const dir = path.join(config.paths.indexes, fingerprintDir(FP));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(dir, 'manifest.json'), '{ not json');
    await expect(open()).rejects.toMatchObject({ code: 'INDEX_CORRUPT' });
    const rebuilt = await open({ rebuild: true });
    expect(rebuilt.images.ids().sort((a, b) => a - b)).toEqual(await liveIds('image'));
    await rebuilt.close();
    expect((await readManifest(dir))?.indexes.image.count).toBe((await liveIds('image')).length);
  });

  it('loads a manifest written before checksums existed, and writes checksums from then on', async () => {
    const dir = path.join(config.paths.indexes, fingerprintDir(FP));
    const { writeFile } = await import('node:fs/promises');
    const old = (await readManifest(dir))!;
    for (const kind of ['image', 'caption'] as const) delete old.indexes[kind].sha256;
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(old));
    const set = await open();
    expect(set.reconciled.image).toMatchObject({ added: 0, deleted: 0 });
    const added = await insertImages(1);
    set.add('image', added.imageIds, await vectorsOf('image', added.imageIds));
    set.add('caption', added.captionIds, await vectorsOf('caption', added.captionIds));
    await set.close();
    expect((await readManifest(dir))?.indexes.image.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

async function vectorsOf(kind: 'image' | 'caption', ids: number[]): Promise<Float32Array[]> {
  const map = await new VectorsRepository(db).get(kind, FP, ids);
  return ids.map((id) => map.get(id)!);
}
