import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { decodeImage, decodeMany } from '../../src/media/image-decode.ts';
import { createEmbedder } from '../../src/models/embedder.ts';
import { loadEncoders } from '../../src/models/load.ts';
import type { Encoders, Projection } from '../../src/models/types.ts';
import { GraphBuilder } from '../../src/onnx/graph-builder.ts';
import { ensurePhotos } from '../setup/photos.ts';

const limits = { maxBytes: 50 * 1024 * 1024, maxPixels: 50_000_000 };

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

const row = (m: Float32Array, i: number, d: number) => m.subarray(i * d, (i + 1) * d);

/** A fixed linear map per modality, enough to exercise the embedder seam (the real one is trained). */
function linearProjection(textDims: number, imageDims: number, dims: number): Projection {
  const weights = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.1);
  const wt = weights(textDims * dims, 1);
  const wi = weights(imageDims * dims, 2);
  const apply = (x: Float32Array, n: number, w: Float32Array, inDims: number) => {
    const out = new Float32Array(n * dims);
    for (let r = 0; r < n; r++)
      for (let k = 0; k < inDims; k++)
        for (let j = 0; j < dims; j++) out[r * dims + j]! += x[r * inDims + k]! * w[k * dims + j]!;
    return out;
  };
  return {
    textDims,
    imageDims,
    dims,
    fingerprint: 'test-linear',
    trained: false,
    projectText: async (x, n) => apply(x, n, wt, textDims),
    projectImage: async (x, n) => apply(x, n, wi, imageDims),
  };
}

describe('tiny encoders on onnxruntime-node', () => {
  let dataDir: string;
  let encoders: Encoders;
  const config = () =>
    loadConfig({
      env: {},
      overrides: { DATA_DIR: dataDir, DEVICE: 'cpu', ORT_INTRA_THREADS: 1, ORT_INTER_THREADS: 1 },
    });

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'encoders-'));
    encoders = await loadEncoders(config(), silentLogger);
  }, 60_000);
  afterAll(async () => {
    await encoders?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('reports dims, max length and stable fingerprints', async () => {
    expect(encoders.profile).toBe('tiny');
    expect(encoders.text.dims).toBe(256);
    expect(encoders.text.maxLength).toBe(64);
    expect(encoders.image.dims).toBe(1248);
    expect(encoders.image.preprocess).toMatchObject({ shortestEdge: 64, cropHeight: 64, cropWidth: 64 });
    expect(encoders.text.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const again = await loadEncoders(config(), silentLogger, { text: { pooling: 'cls' } });
    try {
      expect(again.image.fingerprint).toBe(encoders.image.fingerprint);
      expect(again.text.fingerprint).not.toBe(encoders.text.fingerprint); // pooling is part of it
    } finally {
      await again.close();
    }
  });

  it('gives a sentence the same vector alone and inside a padded batch', async () => {
    const sentence = 'a small red circle in the top left corner';
    const alone = await encoders.text.encode([sentence]);
    const batch = await encoders.text.encode([
      'a large blue square on a white background with two green triangles at the bottom right',
      sentence,
      'star',
    ]);
    expect(alone.vectors).toBeInstanceOf(Float32Array);
    expect(alone.vectors.length).toBe(256);
    expect(batch.vectors.length).toBe(3 * 256);
    const other = row(batch.vectors, 1, 256);
    for (let i = 0; i < 256; i++) expect(Math.abs(alone.vectors[i]! - other[i]!)).toBeLessThan(1e-5);
    expect(cosine(row(batch.vectors, 0, 256), other)).toBeLessThan(0.999);
  });

  it('returns vectors in input order when it regroups texts by length across batches', async () => {
    const small = await loadEncoders(config(), silentLogger, { text: { batchSize: 2 } });
    try {
      const texts = [
        'a very long caption about a large purple hexagon in the lower right corner of a grey background',
        'star',
        'a green ring',
        'two small yellow triangles on the left and one big navy square at the top',
        'red',
      ];
      const together = await small.text.encode(texts);
      for (const [i, text] of texts.entries()) {
        const alone = await encoders.text.encode([text]);
        const got = row(together.vectors, i, 256);
        for (let d = 0; d < 256; d++) expect(Math.abs(alone.vectors[d]! - got[d]!)).toBeLessThan(1e-5);
      }
    } finally {
      await small.close();
    }
  });

  it('counts texts cut at the max length instead of truncating silently', async () => {
    const long = Array.from({ length: 100 }, (_, i) => (i % 2 ? 'red' : 'circle')).join(' ');
    const result = await encoders.text.encode([long, 'short one', long]);
    expect(result.truncated).toBe(2);
    expect(result.vectors.length).toBe(3 * 256);
    expect(result.vectors.every(Number.isFinite)).toBe(true);
  });

  it('encodes images in batches with the same features as one at a time', async () => {
    const colours = ['#ff0000', '#00aa00', '#0000ff'];
    const pixels = await Promise.all(
      colours.map(async (c) =>
        decodeImage(
          await sharp({ create: { width: 90, height: 70, channels: 3, background: c } })
            .png()
            .toBuffer(),
          encoders.image.preprocess,
          limits,
        ),
      ),
    );
    const batch = await encoders.image.encode(pixels);
    expect(batch).toBeInstanceOf(Float32Array);
    expect(batch.length).toBe(3 * 1248);
    const single = await encoders.image.encode([pixels[1]!]);
    for (let i = 0; i < 1248; i++) expect(Math.abs(single[i]! - batch[1248 + i]!)).toBeLessThan(1e-4);
    expect(cosine(row(batch, 0, 1248), row(batch, 2, 1248))).toBeLessThan(0.999);
  });

  it('embeds an EXIF-rotated photo and every format like the upright PNG (cosine > 0.99)', async () => {
    const scene = await sharp({
      create: { width: 128, height: 96, channels: 3, background: { r: 30, g: 60, b: 160 } },
    })
      .composite([
        {
          input: await sharp({ create: { width: 40, height: 40, channels: 3, background: '#e02020' } })
            .png()
            .toBuffer(),
          left: 10,
          top: 10,
        },
        {
          input: await sharp({ create: { width: 30, height: 50, channels: 3, background: '#f0e040' } })
            .png()
            .toBuffer(),
          left: 80,
          top: 30,
        },
      ])
      .png()
      .toBuffer();
    const variants: Record<string, Buffer> = {
      exifRotated: await sharp(scene).rotate(-90).png().withMetadata({ orientation: 6 }).toBuffer(),
      jpeg: await sharp(scene).jpeg({ quality: 92 }).toBuffer(),
      webp: await sharp(scene).webp({ quality: 92 }).toBuffer(),
      gif: await sharp(scene).gif().toBuffer(),
      tiff: await sharp(scene).tiff().toBuffer(),
      avif: await sharp(scene).avif({ quality: 80 }).toBuffer(),
      cmyk: await sharp(scene).jpeg({ quality: 92 }).toColourspace('cmyk').toBuffer(),
      rgb16: await sharp(scene).png().toColourspace('rgb16').toBuffer(),
      alpha: await sharp(scene).ensureAlpha(1).png().toBuffer(),
    };
    const reference = await encoders.image.encode([
      await decodeImage(scene, encoders.image.preprocess, limits),
    ]);
    const names = Object.keys(variants);
    const pixels = await Promise.all(
      names.map((n) => decodeImage(variants[n]!, encoders.image.preprocess, limits)),
    );
    const features = await encoders.image.encode(pixels);
    names.forEach((name, i) => expect(cosine(reference, row(features, i, 1248)), name).toBeGreaterThan(0.99));
    // The threshold discriminates: the same turned pixels without the EXIF tag land far below it.
    const unoriented = await decodeImage(
      await sharp(scene).rotate(-90).png().toBuffer(),
      encoders.image.preprocess,
      limits,
    );
    expect(cosine(reference, await encoders.image.encode([unoriented]))).toBeLessThan(0.98);
  });

  it('encodes real photographs from Debian wallpaper packages', async (ctx) => {
    const photos = await ensurePhotos();
    if ('skipped' in photos) {
      console.warn(`[encoders] real-photo test skipped: ${photos.skipped}`);
      return ctx.skip();
    }
    const picked = photos.files
      .filter((f) => /\.(jpe?g|png|webp)$/i.test(f))
      .filter((_, i) => i % 5 === 0)
      .slice(0, 8);
    const decoded = await decodeMany(
      await Promise.all(picked.map((f) => readFile(f))),
      encoders.image.preprocess,
      limits,
      2,
    );
    const pixels = decoded.map((r, i) => {
      if (!r.ok) throw new Error(`${picked[i]}: ${r.error.message}`);
      return r.value;
    });
    const features = await encoders.image.encode(pixels);
    expect(features.length).toBe(picked.length * 1248);
    expect(features.every(Number.isFinite)).toBe(true);
    expect(cosine(row(features, 0, 1248), row(features, 1, 1248))).toBeLessThan(0.9999);
  }, 300_000);

  it('joins encoders and a projection into unit-length vectors with a combined fingerprint', async () => {
    const embedder = createEmbedder(encoders, linearProjection(256, 1248, 32));
    expect(embedder.dims).toBe(32);
    expect(embedder.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(createEmbedder(encoders, linearProjection(256, 1248, 32)).fingerprint).toBe(embedder.fingerprint);
    const { vectors, truncated } = await embedder.embedTexts(['a red circle', 'a blue star']);
    expect(truncated).toBe(0);
    expect(vectors).toHaveLength(2);
    for (const v of vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    const px = await decodeImage(
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123456' } })
        .png()
        .toBuffer(),
      embedder.preprocess,
      limits,
    );
    const [image] = await embedder.embedPixels([px]);
    expect(image).toHaveLength(32);
    expect(Math.hypot(...image!)).toBeCloseTo(1, 5);
    expect(await embedder.embedPixels([])).toEqual([]);
    expect(() => createEmbedder(encoders, linearProjection(768, 1248, 32))).toThrow(
      expect.objectContaining({ code: 'MODEL_MISMATCH' }),
    );
  });
});

describe('loading a bad model directory', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bad-models-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });
  const config = (profile: 'tiny' | 'bert-resnet' | 'clip' = 'tiny') =>
    loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, DEVICE: 'cpu', MODELS: profile } });

  async function loadError(profile: 'tiny' | 'bert-resnet' | 'clip' = 'tiny'): Promise<AppError> {
    const error = await loadEncoders(config(profile), silentLogger).then(
      (e) => e.close(),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }

  it('says which files of a profile are missing and how to get them', async () => {
    const error = await loadError('bert-resnet');
    expect(error.code).toBe('MODEL_MISSING');
    expect(error.message).toContain(
      'missing config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx',
    );
    expect(error.message).toContain('npm run models -- fetch bert-resnet');
    expect(error.message).toContain('Xenova/bert-base-uncased');
  });

  it('says what is wrong with a graph that has the wrong inputs or is not ONNX', async () => {
    const tinyDir = path.join(dataDir, 'models', 'tiny');
    await loadEncoders(config(), silentLogger).then((e) => e.close());
    const good = path.join(dataDir, 'good-image.onnx');
    await cp(path.join(tinyDir, 'image/onnx/model.onnx'), good);

    const g = new GraphBuilder('wrong');
    g.input('x', 'float32', ['n', 3]);
    g.node('Relu', ['x'], ['y']);
    g.output('y', 'float32', ['n', 3]);
    await writeFile(path.join(tinyDir, 'image/onnx/model.onnx'), g.toBytes());
    let error = await loadError();
    expect(error.code).toBe('MODEL_INVALID');
    expect(error.message).toMatch(
      /needs exactly one 4-D image input \(pixel_values\); this graph has inputs x\[n,3\]:float32/,
    );

    await writeFile(path.join(tinyDir, 'image/onnx/model.onnx'), 'not a protobuf');
    error = await loadError();
    expect(error.code).toBe('MODEL_INVALID');
    expect(error.message).toMatch(/onnxruntime could not load the model/);

    await cp(good, path.join(tinyDir, 'image/onnx/model.onnx'));
    await writeFile(
      path.join(tinyDir, 'image/preprocessor_config.json'),
      JSON.stringify({ do_resize: true }),
    );
    error = await loadError();
    expect(error.code).toBe('MODEL_INVALID');
    expect(error.message).toMatch(/preprocessor_config.json needs size, image_mean and image_std/);
  });

  it('refuses a graph whose width does not match its config.json', async () => {
    const fresh = await mkdtemp(path.join(os.tmpdir(), 'bad-dims-'));
    try {
      const cfg = loadConfig({ env: {}, overrides: { DATA_DIR: fresh, DEVICE: 'cpu' } });
      await loadEncoders(cfg, silentLogger).then((e) => e.close());
      const file = path.join(fresh, 'models', 'tiny', 'text', 'config.json');
      const textConfig = JSON.parse(await readFile(file, 'utf8'));
      await writeFile(file, JSON.stringify({ ...textConfig, hidden_size: 768 }));
      const error = await loadEncoders(cfg, silentLogger).then(
        (e) => e.close(),
        (e: unknown) => e,
      );
      expect((error as AppError).code).toBe('MODEL_INVALID');
      expect((error as AppError).message).toMatch(
        /config.json says last_hidden_state is 768-d but the graph gives 256-d/,
      );
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });
});
