import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { shortHash } from '../../src/models/fingerprint.ts';
import { loadEncoders } from '../../src/models/load.ts';
import {
  commitProjection,
  createInitialWeights,
  projectionDir,
  readProjection,
  writeProjection,
} from '../../src/models/projection.ts';
import { writeProjectionFiles } from '../../src/models/projection-weights.ts';
import { fingerprintDir, writeManifest } from '../../src/store/vector/manifest.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { trainProjection } from '../../src/train/train-projection.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());

const weights = (seed: number) =>
  createInitialWeights({ textDims: 6, imageDims: 9, dims: 4, head: 'linear', seed });
const encoders = { text: 'text-fp', image: 'image-fp' };

describe('versioned projection folders', () => {
  it('retraining switches `active` to a new version and keeps the previous one', async () => {
    const dir = path.join(temp.dir, 'versions');
    const first = await writeProjection(dir, weights(1), encoders);
    const second = await commitProjection(dir, weights(2), encoders);
    expect(second.previous?.fingerprint).toBe(first.fingerprint);
    expect((await readdir(path.join(dir, 'versions'))).sort()).toEqual(
      [first.fingerprint, second.header.fingerprint].sort(),
    );
    expect(JSON.parse(await readFile(path.join(dir, 'active'), 'utf8'))).toEqual({
      format: 'crossmodal-projection-active',
      version: 1,
      fingerprint: second.header.fingerprint,
      previous: first.fingerprint,
    });
    expect((await readProjection(dir))?.header.fingerprint).toBe(second.header.fingerprint);
    const backup = await readProjection(path.join(dir, 'versions', first.fingerprint));
    expect(backup?.header.fingerprint).toBe(first.fingerprint);
  });

  it('reads a folder in the old layout, and keeps it as the backup when replaced', async () => {
    const dir = path.join(temp.dir, 'legacy');
    const old = await writeProjectionFiles(dir, weights(3), encoders);
    expect((await readProjection(dir))?.header.fingerprint).toBe(old.fingerprint);
    const next = await commitProjection(dir, weights(4), encoders);
    expect(next.previous?.fingerprint).toBe(old.fingerprint);
    expect((await readdir(dir)).sort()).toEqual(['active', 'versions']);
    expect((await readProjection(path.join(dir, 'versions', old.fingerprint)))?.header.fingerprint).toBe(
      old.fingerprint,
    );
  });

  it('readers never see a mismatched pair while projections are committed', async () => {
    const dir = path.join(temp.dir, 'concurrent');
    await writeProjection(dir, weights(10), encoders);
    let committing = true;
    const failures: string[] = [];
    let reads = 0;
    const reader = async () => {
      while (committing) {
        await readProjection(dir).catch((e: unknown) => failures.push(String(e)));
        reads++;
      }
    };
    const readers = [reader(), reader(), reader()];
    for (let i = 0; i < 12; i++) await commitProjection(dir, weights(11 + (i % 3)), encoders);
    committing = false;
    await Promise.all(readers);
    expect({ failures, someReads: reads > 0 }).toEqual({ failures: [], someReads: true });
  });
});

describe('retraining over a live index', () => {
  it('warns that an index uses the projection being replaced', async () => {
    const { config } = temp;
    const messages: string[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) },
    );
    const enc = await loadEncoders(config, silentLogger);
    try {
      const { manifestPath } = await generateSampleData({ outDir: config.paths.samples, n: 24, seed: 2 });
      const opts = { dataPath: manifestPath, encoders: enc, epochs: 1, dims: 8, head: 'linear' as const };
      const first = await trainProjection(config, { ...opts, seed: 1 }, silentLogger);
      const model = shortHash(enc.text.fingerprint, enc.image.fingerprint, first.fingerprint);
      const indexDir = path.join(config.paths.indexes, fingerprintDir(model));
      await mkdir(indexDir, { recursive: true });
      const snapshot = {
        file: 'x.bin',
        implementation: 'exact' as const,
        dims: 8,
        count: 0,
        deleted: [],
        bytes: 0,
        maxId: 0,
      };
      await writeManifest(indexDir, {
        version: 1,
        fingerprint: model,
        dims: 8,
        params: { m: 16, efConstruction: 200, ef: 64 },
        generation: 0,
        savedAt: new Date(0).toISOString(),
        indexes: { image: snapshot, caption: snapshot },
      });
      const second = await trainProjection(config, { ...opts, seed: 2 }, logger);
      expect(second.fingerprint).not.toBe(first.fingerprint);
      expect(messages).toContain(
        'a live index was built with the projection just replaced: run `npm run reindex` (the old projection is kept under versions/)',
      );
      const kept = await readProjection(path.join(projectionDir(config), 'versions', first.fingerprint));
      expect(kept?.header.fingerprint).toBe(first.fingerprint);
    } finally {
      await enc.close();
    }
  });
});
