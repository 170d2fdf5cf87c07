import { readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { decodeImage } from '../../src/media/image-decode.ts';
import { loadEncoders } from '../../src/models/load.ts';
import type { Encoders } from '../../src/models/types.ts';
import { cachedFeatures, type FeatureCacheOptions } from '../../src/train/feature-cache.ts';
import { loadPairedData, type PairedData } from '../../src/train/paired-data.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
let encoders: Encoders;
let data: PairedData;
let options: FeatureCacheOptions;

beforeAll(async () => {
  encoders = await loadEncoders(temp.config, silentLogger);
  const { manifestPath } = await generateSampleData({
    outDir: path.join(temp.dir, 'samples'),
    n: 12,
    seed: 4,
  });
  data = await loadPairedData(manifestPath);
  options = withLimits({ maxBytes: 1 << 20, maxPixels: 1 << 20 });
});
function withLimits(limits: FeatureCacheOptions['limits']): FeatureCacheOptions {
  return {
    cacheDir: temp.config.paths.cache,
    limits,
    decode: (bytes) => decodeImage(bytes, encoders.image.preprocess, limits),
    logger: silentLogger,
  };
}

afterAll(async () => {
  await encoders?.close();
  await temp.cleanup();
});

describe('feature cache', () => {
  it('encodes once, then serves the same features from disk', async () => {
    const first = await cachedFeatures(data, encoders, options);
    expect(first.fromCache).toBe(false);
    expect(first.image).toHaveLength(12 * encoders.image.dims);
    expect(first.text).toHaveLength(24 * encoders.text.dims);
    const second = await cachedFeatures(data, encoders, options);
    expect(second.fromCache).toBe(true);
    expect(second.key).toBe(first.key);
    expect(Array.from(second.image)).toEqual(Array.from(first.image));
    expect(Array.from(second.text)).toEqual(Array.from(first.text));
    expect(Array.from(second.captionImage)).toEqual(Array.from(first.captionImage));
  });

  it('misses when an encoder fingerprint changes', async () => {
    const before = await cachedFeatures(data, encoders, options);
    // The same real text encoder under another fingerprint, as after a model update.
    const text = encoders.text;
    const changed: Encoders = {
      ...encoders,
      text: {
        dims: text.dims,
        maxLength: text.maxLength,
        fingerprint: `${text.fingerprint}-v2`,
        encode: (t) => text.encode(t),
      },
    };
    const after = await cachedFeatures(data, changed, options);
    expect(after.fromCache).toBe(false);
    expect(after.key).not.toBe(before.key);
    expect(await readdir(path.join(temp.config.paths.cache, 'features'))).toEqual(
      expect.arrayContaining([before.key, after.key]),
    );
  });

  it('misses when the data changes, and drops an undecodable image instead of failing', async () => {
    const before = await cachedFeatures(data, encoders, options);
    const broken: PairedData = {
      ...data,
      items: [
        ...data.items,
        { ...data.items[0]!, imagePath: path.join(temp.dir, 'samples', 'manifest.jsonl') },
      ],
    };
    const after = await cachedFeatures(broken, encoders, options);
    expect(after.key).not.toBe(before.key);
    expect(after.items).toHaveLength(12);
    expect(after.kept).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('never caches a run that dropped images, and keys on the decode limits', async () => {
    // 1024 pixels refuses every sample image; the refusal must not outlive the setting.
    const tight = withLimits({ maxBytes: 1 << 20, maxPixels: 1024 });
    const refused = await cachedFeatures(data, encoders, tight);
    expect({ items: refused.items.length, fromCache: refused.fromCache }).toEqual({
      items: 0,
      fromCache: false,
    });
    const again = await cachedFeatures(data, encoders, tight);
    expect({ items: again.items.length, fromCache: again.fromCache }).toEqual({ items: 0, fromCache: false });
    const loose = await cachedFeatures(data, encoders, options);
    expect(loose.items).toHaveLength(12);
    expect(loose.key).not.toBe(refused.key);
  });

  it('misses when an image changes with its size and mtime kept', async () => {
    // Uncompressed PNGs of one size are byte-for-byte the same length whatever their colour.
    const png = (r: number) =>
      sharp({ create: { width: 40, height: 40, channels: 3, background: { r, g: 0, b: 0 } } })
        .png({ compressionLevel: 0, adaptiveFiltering: false })
        .toBuffer();
    const file = data.items[0]!.imagePath;
    const [red, dark] = [await png(250), await png(10)];
    expect(red.length).toBe(dark.length);
    // A whole-second mtime, so restoring it is exact (a Date loses the sub-millisecond part).
    const stamp = 1_700_000_000;
    await writeFile(file, red);
    await utimes(file, stamp, stamp);
    const before = await cachedFeatures(data, encoders, options);
    expect((await cachedFeatures(data, encoders, options)).fromCache).toBe(true);
    await writeFile(file, dark);
    await utimes(file, stamp, stamp);
    expect((await stat(file)).mtimeMs).toBe(stamp * 1000);
    const after = await cachedFeatures(data, encoders, options);
    expect(after.fromCache).toBe(false);
    expect(after.key).not.toBe(before.key);
    const row = (f: typeof after) => Array.from(f.image.subarray(0, encoders.image.dims));
    expect(row(after)).not.toEqual(row(before));
  });
});
