import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { loadPairedData } from '../../src/train/paired-data.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { satisfies } from '../../src/train/synthetic/scene.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());

describe('synthetic sample data', () => {
  it('is identical for the same seed, image bytes included, and differs for another seed', async () => {
    const a = await generateSampleData({ outDir: path.join(temp.dir, 'a'), n: 24, seed: 5 });
    const b = await generateSampleData({ outDir: path.join(temp.dir, 'b'), n: 24, seed: 5 });
    const c = await generateSampleData({ outDir: path.join(temp.dir, 'c'), n: 24, seed: 6 });
    expect(a.count).toBe(24);
    const [ma, mb, mc] = await Promise.all([a, b, c].map((r) => readFile(r.manifestPath, 'utf8')));
    expect(ma).toBe(mb);
    expect(ma).not.toBe(mc);
    for (const name of ['images/000000.png', 'images/000023.png']) {
      const [ia, ib] = await Promise.all([
        readFile(path.join(temp.dir, 'a', name)),
        readFile(path.join(temp.dir, 'b', name)),
      ]);
      expect(ia.equals(ib)).toBe(true);
    }
  });

  it('writes 64x64 PNGs and a manifest the paired-data reader understands, with true captions', async () => {
    const { manifestPath } = await generateSampleData({
      outDir: path.join(temp.dir, 'd'),
      n: 60,
      seed: 9,
      captionsPerImage: 3,
    });
    const data = await loadPairedData(manifestPath);
    expect(data.format).toBe('manifest');
    expect(data.items).toHaveLength(60);
    const png = await readFile(data.items[0]!.imagePath);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(64); // IHDR width
    expect(png.readUInt32BE(20)).toBe(64);
    expect(new Set(data.items.map((i) => i.split))).toEqual(new Set(['train', 'val', 'test']));
    for (const item of data.items) {
      expect(item.captions).toHaveLength(3);
      expect(new Set(item.captions).size).toBe(3);
      expect(item.named).toHaveLength(3);
      // Every caption's claims hold for its own image.
      for (const named of item.named!) expect(satisfies(item.scene!, named)).toBe(true);
    }
  });

  it('refuses a bad count with INVALID_INPUT', async () => {
    await expect(generateSampleData({ outDir: path.join(temp.dir, 'e'), n: 0 })).rejects.toSatisfy((e) =>
      isAppError(e, 'INVALID_INPUT'),
    );
    await expect(
      generateSampleData({ outDir: path.join(temp.dir, 'e'), n: 5, captionsPerImage: 0 }),
    ).rejects.toSatisfy((e) => isAppError(e, 'INVALID_INPUT'));
  });
});
