import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { decodeImage } from '../../src/media/image-decode.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { parsePreprocessorConfig } from '../../src/models/preprocess-config.ts';
import { ensureTinyModels } from '../../src/models/tiny/generate.ts';
import { GraphBuilder } from '../../src/onnx/graph-builder.ts';

/**
 * The real bert-resnet and clip exports cannot be downloaded here, so these tests lay out small
 * generated graphs with the same file names, input/output names and config conventions, and
 * check that the loader reads them the way it will read the real ones.
 */

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

describe('parsePreprocessorConfig', () => {
  it('reads CLIP, ConvNext/ResNet (crop_pct) and ViT styles', () => {
    expect(
      parsePreprocessorConfig(
        { crop_size: 224, do_center_crop: true, size: 224, image_mean: CLIP_MEAN, image_std: CLIP_STD },
        'clip',
      ),
    ).toEqual({
      shortestEdge: 224,
      cropHeight: 224,
      cropWidth: 224,
      mean: CLIP_MEAN,
      std: CLIP_STD,
      rescaleFactor: 1 / 255,
    });
    expect(
      parsePreprocessorConfig(
        {
          crop_pct: 0.875,
          size: { shortest_edge: 224 },
          image_mean: [0.485, 0.456, 0.406],
          image_std: [0.229, 0.224, 0.225],
          rescale_factor: 0.00392156862745098,
        },
        'resnet',
      ),
    ).toMatchObject({ shortestEdge: 256, cropHeight: 224, cropWidth: 224 });
    expect(
      parsePreprocessorConfig({ size: { height: 224, width: 224 }, image_mean: 0.5, image_std: 0.5 }, 'vit'),
    ).toMatchObject({ shortestEdge: 224, cropHeight: 224, cropWidth: 224, mean: [0.5, 0.5, 0.5] });
    expect(() => parsePreprocessorConfig({ size: 224 }, 'broken')).toThrow(AppError);
  });
});

describe('loading hub-style profile layouts', () => {
  let dataDir: string;
  let tinyText: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'layouts-'));
    const { dir } = await ensureTinyModels(loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } }));
    tinyText = path.join(dir, 'text');
  }, 60_000);
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  async function put(file: string, content: string | Uint8Array): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  const weights = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1));

  it('reads a CLIP layout: text_embeds from input_ids alone, image_embeds, CLIP max length', async () => {
    const root = path.join(dataDir, 'models', 'clip');
    await copyFile(
      path.join(tinyText, 'tokenizer.json'),
      path.join(await dir(root, 'text'), 'tokenizer.json'),
    );
    await copyFile(
      path.join(tinyText, 'tokenizer_config.json'),
      path.join(root, 'text', 'tokenizer_config.json'),
    );
    await put(
      path.join(root, 'text', 'config.json'),
      JSON.stringify({ projection_dim: 8, text_config: { max_position_embeddings: 16 } }),
    );
    const t = new GraphBuilder('clip_text');
    t.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
    const table = t.initializer('embed', [4000, 8], weights(4000 * 8));
    t.node('ReduceMean', [t.op('Gather', [table, 'input_ids'], { axis: 0 })], ['text_embeds'], {
      axes: [1],
      keepdims: 0,
    });
    t.output('text_embeds', 'float32', ['batch_size', 8]);
    await put(path.join(root, 'text', 'onnx', 'text_model.onnx'), t.toBytes());

    await put(path.join(root, 'image', 'config.json'), JSON.stringify({ projection_dim: 6 }));
    await put(
      path.join(root, 'image', 'preprocessor_config.json'),
      JSON.stringify({
        crop_size: 32,
        do_center_crop: true,
        size: 32,
        image_mean: CLIP_MEAN,
        image_std: CLIP_STD,
      }),
    );
    const v = new GraphBuilder('clip_vision');
    v.input('pixel_values', 'float32', ['batch_size', 3, 32, 32]);
    const w = v.initializer('w', [6, 3, 3, 3], weights(6 * 27));
    const pooled = v.op('GlobalAveragePool', [v.op('Conv', ['pixel_values', w], { kernel_shape: [3, 3] })]);
    v.node('Flatten', [pooled], ['image_embeds'], { axis: 1 });
    v.output('image_embeds', 'float32', ['batch_size', 6]);
    await put(path.join(root, 'image', 'onnx', 'vision_model.onnx'), v.toBytes());

    const encoders = await loadEncoders(
      loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, MODELS: 'clip', DEVICE: 'cpu' } }),
      silentLogger,
    );
    try {
      expect([encoders.profile, encoders.text.dims, encoders.image.dims, encoders.text.maxLength]).toEqual([
        'clip',
        8,
        6,
        16,
      ]);
      const long = Array.from({ length: 30 }, () => 'red').join(' ');
      const { vectors, truncated } = await encoders.text.encode(['a red circle', long]);
      expect(vectors.length).toBe(16);
      expect(truncated).toBe(1);
      const px = await decodeImage(
        await sharp({ create: { width: 50, height: 40, channels: 3, background: '#808080' } })
          .png()
          .toBuffer(),
        encoders.image.preprocess,
        { maxBytes: 1e6, maxPixels: 1e6 },
      );
      expect([px.width, px.height]).toEqual([32, 32]);
      expect((await encoders.image.encode([px, px])).length).toBe(12);
    } finally {
      await encoders.close();
    }
  });

  it('takes a feature-extraction ResNet export (pooler_output as a map) unchanged, averaging over space', async () => {
    const root = path.join(dataDir, 'models', 'bert-resnet');
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      await copyFile(path.join(tinyText, f), path.join(await dir(root, 'text'), f));
    }
    await copyFile(
      path.join(tinyText, 'onnx', 'model.onnx'),
      path.join(await dir(root, 'text', 'onnx'), 'model.onnx'),
    );
    await put(
      path.join(root, 'image', 'config.json'),
      JSON.stringify({ model_type: 'resnet', hidden_sizes: [4, 5] }),
    );
    await put(
      path.join(root, 'image', 'preprocessor_config.json'),
      JSON.stringify({
        crop_pct: 0.875,
        size: { shortest_edge: 28 },
        image_mean: [0.485, 0.456, 0.406],
        image_std: [0.229, 0.224, 0.225],
      }),
    );
    const g = new GraphBuilder('resnet_like');
    g.input('pixel_values', 'float32', ['batch_size', 3, 'height', 'width']);
    const w = g.initializer('w', [5, 3, 1, 1], weights(15));
    g.node('Conv', ['pixel_values', w], ['pooler_output'], { kernel_shape: [1, 1] });
    g.output('pooler_output', 'float32', ['batch_size', 5, 'height', 'width']);
    await put(path.join(root, 'image', 'onnx', 'model.onnx'), g.toBytes());

    const encoders = await loadEncoders(
      loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, MODELS: 'bert-resnet', DEVICE: 'cpu' } }),
      silentLogger,
    );
    try {
      expect(encoders.image.preprocess).toMatchObject({ shortestEdge: 32, cropHeight: 28, cropWidth: 28 });
      expect(encoders.image.dims).toBe(5);
      const data = new Float32Array(3 * 28 * 28).fill(1);
      const [f0] = await encoders.image.encode([
        { data, height: 28, width: 28, source: { width: 28, height: 28, format: 'raw', bytes: 0 } },
      ]);
      // A constant image: every position gives the same 1x1-conv output, so the average equals it.
      const expected = (c: number) => [0, 1, 2].reduce((a, k) => a + Math.fround(Math.sin(c * 3 + k + 1)), 0);
      expect(f0).toBeCloseTo(expected(0), 4);
    } finally {
      await encoders.close();
    }
  });

  async function dir(...parts: string[]): Promise<string> {
    const d = path.join(...parts);
    await mkdir(d, { recursive: true });
    return d;
  }
});
