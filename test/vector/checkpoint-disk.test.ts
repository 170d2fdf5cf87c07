import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { proveFile } from '../../src/store/vector/file-check.ts';
import { fingerprintDir, openIndexes, readManifest, type IndexSet } from '../../src/store/vector/index.ts';
import type { VectorKind } from '../../src/store/vectors.repository.ts';
import { Collection } from '../lifecycle/collection.ts';
import { pgliteBackend, useMigratedDb } from '../setup/databases.ts';

/**
 * Checkpoints on a really full disk: DATA_DIR on a small tmpfs, filled to the last page. hnswlib's
 * writer ignores ENOSPC, so only checks done by the checkpoint itself stand between a full disk
 * and a manifest naming empty files. Needs root (mount); elsewhere the suite prints why it skips.
 */

const DIMS = 16;
const FP = 'disk-test-models';
const mountPoint = path.join(os.tmpdir(), `cms-full-disk-${process.pid}`);
const mountSkipReason = tryMount();
if (mountSkipReason) console.warn(`SKIPPED checkpoints on a full disk: ${mountSkipReason}`);

function tryMount(): string {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  try {
    mkdirSync(mountPoint, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    return '';
  } catch (error) {
    rmSync(mountPoint, { recursive: true, force: true });
    return `cannot mount a tmpfs (${String((error as Error).message).split('\n')[0]}); run as root to test a full disk`;
  }
}

/** Fills the file system, then gives back `free` bytes (rounded by the fs to whole pages). */
function fillDisk(file: string, free: number): void {
  const fd = openSync(file, 'a');
  const page = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, page);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  ftruncateSync(fd, Math.max(0, fstatSync(fd).size - free));
  closeSync(fd);
}

/** Whole pages the next generation's two index files take, measured by saving them off the tmpfs. */
async function nextIndexBytes(set: IndexSet): Promise<number> {
  const probe = await mkdtemp(path.join(os.tmpdir(), 'probe-'));
  try {
    let total = 0;
    for (const index of [set.images, set.captions]) {
      total += Math.ceil((await index.save(probe, 'probe')).bytes / 4096) * 4096;
    }
    return total;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

/** The index directory's files, minus the lock: what a checkpoint leaves behind. */
async function indexFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f !== 'writer.lock').sort();
}

describe.skipIf(mountSkipReason !== '')('checkpoints on a full disk', () => {
  const database = useMigratedDb(pgliteBackend, mountSkipReason !== '');
  let config: Config;
  let dir: string;
  let collection: Collection;
  const filler = path.join(mountPoint, 'filler');
  const open = () =>
    openIndexes({ config, db: collection.db, fingerprint: FP, dims: DIMS, logger: silentLogger });

  beforeAll(async () => {
    config = loadConfig({ env: {}, overrides: { DATA_DIR: path.join(mountPoint, 'data') } });
    dir = path.join(config.paths.indexes, fingerprintDir(FP));
    collection = new Collection(database.get(), FP, DIMS, 'disk');
  });
  afterAll(async () => {
    await rm(filler, { force: true });
    execFileSync('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  async function addImages(set: IndexSet, n: number): Promise<void> {
    const added = await collection.addImages(n);
    for (const [kind, ids] of [
      ['image', added.imageIds],
      ['caption', added.captionIds],
    ] as const) {
      set.add(
        kind,
        ids,
        ids.map((id) => collection.vectorOf(kind as VectorKind, id)),
      );
    }
  }

  it('never commits a short file: failed checkpoints keep the last good generation, free their space and are reported', async () => {
    const set = await open();
    await addImages(set, 150);
    expect(await set.checkpoint()).toBe(true);
    const good = await readManifest(dir);
    expect(good?.generation).toBe(1);
    const goodFiles = await indexFiles(dir);
    const proofs = await Promise.all(goodFiles.map((f) => proveFile(path.join(dir, f))));

    // Three ways to run out: nothing free, a few pages free (the first file comes out short), and
    // room for exactly both index files, so the manifest write itself fails (the case).
    for (const [attempt, room] of (['none', 'two pages', 'index files only'] as const).entries()) {
      await addImages(set, 10);
      const free = room === 'none' ? 0 : room === 'two pages' ? 8192 : await nextIndexBytes(set);
      fillDisk(filler, free);
      const failure = await set.checkpoint().then(
        () => undefined,
        (error: unknown) => error as NodeJS.ErrnoException,
      );
      await rm(filler);
      expect(failure?.code).toBe(room === 'index files only' ? 'ENOSPC' : 'INDEX_CORRUPT');
      expect(await readManifest(dir)).toEqual(good);
      expect(await indexFiles(dir)).toEqual(goodFiles);
      expect(await Promise.all(goodFiles.map((f) => proveFile(path.join(dir, f))))).toEqual(proofs);
      expect(set.checkpointStatus()).toMatchObject({
        generation: 1,
        consecutiveFailures: attempt + 1,
        failuresTotal: attempt + 1,
        lastError: expect.any(String),
      });
    }

    // Room again: the next checkpoint commits everything, and the old generation goes.
    expect(await set.checkpoint()).toBe(true);
    expect(set.checkpointStatus()).toMatchObject({ generation: 2, consecutiveFailures: 0, failuresTotal: 3 });
    expect(await indexFiles(dir)).toEqual(['caption.2.hnsw', 'image.2.hnsw', 'manifest.json']);

    // The final checkpoint in close() fails: close still rejects, and still releases the set.
    fillDisk(filler, 0);
    await addImages(set, 5);
    await expect(set.close()).rejects.toThrow();
    expect(() => set.markDeleted('image', [1])).toThrow(/after close/);
    expect(await readdir(dir)).not.toContain('writer.lock');
    await rm(filler);

    // What the failed checkpoints did not save comes back from Postgres on the next open.
    const reopened = await open();
    expect(reopened.reconciled.image).toMatchObject({ added: 5 });
    for (const kind of ['image', 'caption'] as const) {
      const index = kind === 'image' ? reopened.images : reopened.captions;
      const live = await collection.live(kind);
      expect(index.ids().sort((a, b) => a - b)).toEqual([...live.keys()].sort((a, b) => a - b));
    }
    await reopened.close();
  });

  it('refuses a truncated or altered index file with INDEX_CORRUPT, and a rebuild recovers', async () => {
    const manifest = (await readManifest(dir))!;
    const file = path.join(dir, manifest.indexes.image.file);
    const original = await readFile(file);

    await truncate(file, original.length - 100);
    await expect(open()).rejects.toMatchObject({ code: 'INDEX_CORRUPT' });

    const altered = Buffer.from(original);
    altered[200] = (altered[200] as number) ^ 0xff;
    await writeFile(file, altered);
    await expect(open()).rejects.toMatchObject({ code: 'INDEX_CORRUPT', message: /checksum/ });

    const rebuilt = await openIndexes({
      config,
      db: collection.db,
      fingerprint: FP,
      dims: DIMS,
      logger: silentLogger,
      rebuild: true,
    });
    expect(rebuilt.images.size).toBe((await collection.live('image')).size);
    await rebuilt.close();
    await expect(open().then((s) => s.close())).resolves.toBeUndefined();
  });
});
