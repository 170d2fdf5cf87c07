import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Profile } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { fingerprintFiles } from '../../src/models/fingerprint.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { PROFILES } from '../../src/models/profiles.ts';
import { CLIP_BOS, CLIP_EOS } from '../../src/models/standins/bpe-tokenizer.ts';
import {
  bertResnetStandin,
  bertVggStandin,
  clipStandin,
} from '../../src/models/standins/standin-profiles.ts';
import { loadTokenizer } from '../../src/models/text-encoder.ts';
import { buildVocab } from '../../src/models/tiny/tokenizer-files.ts';
import type { PixelTensor } from '../../src/models/types.ts';
import { viewGraph } from '../../src/onnx/graph-rewrite.ts';

/**
 * The real bert-resnet and clip exports cannot be downloaded here, so these tests generate
 * stand-ins with the real exports' structure at reduced width (a masked-LM BERT and a
 * ResNetForImageClassification with only `logits`; CLIP's split towers; a byte-level BPE
 * tokenizer.json in both merge formats; the real config fields), load them through the same
 * code as `MODELS=<profile>`, and compare the features with a twin graph that outputs the inner
 * tensor directly.
 */

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'real-profiles-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes stand-in files as `DATA_DIR/models/<profile>/...`; returns DATA_DIR. */
async function dataDirWith(name: string, profile: Profile, files: Map<string, Uint8Array>): Promise<string> {
  const dataDir = path.join(root, name);
  for (const [rel, bytes] of files) {
    const file = path.join(dataDir, 'models', profile, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
  }
  return dataDir;
}

const configFor = (dataDir: string, profile: Profile) =>
  loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, MODELS: profile, DEVICE: 'cpu' } });

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Deterministic, varied 3xSxS pixels (already normalised, as the decoder hands them over). */
function pixels(seed: number, size: number): PixelTensor {
  const data = Float32Array.from(
    { length: 3 * size * size },
    (_, i) => Math.sin(i * 0.37 + seed * 1.7) * 1.5,
  );
  return { data, height: size, width: size, source: { width: size, height: size, format: 'raw', bytes: 0 } };
}

async function run(model: Uint8Array, feeds: Record<string, ort.Tensor>, output: string) {
  const session = await ort.InferenceSession.create(model);
  try {
    const out = (await session.run(feeds))[output]!;
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await session.release();
  }
}

const int64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);

describe('bert-resnet from a masked-LM and an image-classification export', () => {
  const standin = bertResnetStandin();
  const twin = bertResnetStandin({ twin: true });
  const captions = [
    'a red circle on a blue square',
    'dog',
    Array.from({ length: 600 }, () => 'tree').join(' '),
  ];

  it('reproduces the exports: the three BERT inputs and only logits; ResNet ends GlobalAveragePool -> Flatten -> Gemm', () => {
    const text = viewGraph(standin.get('text/onnx/model.onnx')!);
    const image = viewGraph(standin.get('image/onnx/model.onnx')!);
    expect(text.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    const vocab = buildVocab().length;
    expect(text.outputs).toEqual([
      { name: 'logits', elemType: 1, dims: ['batch_size', 'sequence_length', vocab] },
    ]);
    expect(image.outputs).toEqual([{ name: 'logits', elemType: 1, dims: ['batch_size', 10] }]);
    expect(image.nodes.slice(-3).map((n) => n.opType)).toEqual(['GlobalAveragePool', 'Flatten', 'Gemm']);
  });

  it('yields mean-pooled token states and the 2048-style pooled features, equal to the twin that outputs them', async () => {
    const dataDir = await dataDirWith('bert-resnet', 'bert-resnet', standin);
    const encoders = await loadEncoders(configFor(dataDir, 'bert-resnet'), silentLogger);
    const textDir = path.join(dataDir, 'models', 'bert-resnet', 'text');
    try {
      expect([encoders.text.dims, encoders.image.dims, encoders.text.maxLength]).toEqual([32, 16, 512]);
      const { vectors, truncated } = await encoders.text.encode(captions);
      expect(truncated).toBe(1);

      // Reference: each caption alone (no padding) through the twin, mean over its tokens.
      const tokenizer = await loadTokenizer(textDir);
      const expected = new Float32Array(captions.length * 32);
      for (const [i, caption] of captions.entries()) {
        const encoded = tokenizer([caption], { add_special_tokens: true, return_tensor: false });
        let ids = encoded.input_ids[0]!;
        if (ids.length > 512) ids = [...ids.slice(0, 511), ids.at(-1)!];
        const zeros = ids.map(() => 0);
        const out = await run(
          twin.get('text/onnx/model.onnx')!,
          {
            input_ids: int64([ids]),
            attention_mask: int64([ids.map(() => 1)]),
            token_type_ids: int64([zeros]),
          },
          'last_hidden_state',
        );
        for (let t = 0; t < ids.length; t++)
          for (let h = 0; h < 32; h++) expected[i * 32 + h]! += out.data[t * 32 + h]! / ids.length;
      }
      expect(maxAbsDiff(vectors, expected)).toBeLessThan(1e-5);

      const images = [pixels(1, 32), pixels(2, 32)];
      const features = await encoders.image.encode(images);
      const stacked = new Float32Array([...images[0]!.data, ...images[1]!.data]);
      const reference = await run(
        twin.get('image/onnx/model.onnx')!,
        { pixel_values: new ort.Tensor('float32', stacked, [2, 3, 32, 32]) },
        'pooler_output',
      );
      expect(reference.dims).toEqual([2, 16]);
      expect(maxAbsDiff(features, reference.data)).toBeLessThan(1e-5);

      // The rewritten graphs sit beside the originals, and the fingerprint hashes them.
      const part = PROFILES['bert-resnet'].text;
      expect(existsSync(path.join(textDir, 'onnx', 'model.features.onnx'))).toBe(true);
      expect(encoders.text.fingerprint).toBe(
        await fingerprintFiles(textDir, [...part.files, 'onnx/model.features.onnx'], {
          pooling: 'mean',
          maxLength: 512,
        }),
      );
    } finally {
      await encoders.close();
    }
  });

  it('reuses the rewritten graph on the next load and rewrites it when the original changes', async () => {
    const dataDir = path.join(root, 'bert-resnet');
    const rewritten = path.join(dataDir, 'models', 'bert-resnet', 'image', 'onnx', 'model.features.onnx');
    const before = statSync(rewritten).mtimeMs;
    const again = await loadEncoders(configFor(dataDir, 'bert-resnet'), silentLogger);
    await again.close();
    expect(statSync(rewritten).mtimeMs).toBe(before);

    const other = bertResnetStandin({ seed: 8 });
    await writeFile(
      path.join(dataDir, 'models', 'bert-resnet', 'image', 'onnx', 'model.onnx'),
      other.get('image/onnx/model.onnx')!,
    );
    const changed = await loadEncoders(configFor(dataDir, 'bert-resnet'), silentLogger);
    try {
      const reference = await run(
        bertResnetStandin({ seed: 8, twin: true }).get('image/onnx/model.onnx')!,
        { pixel_values: new ort.Tensor('float32', pixels(3, 32).data, [1, 3, 32, 32]) },
        'pooler_output',
      );
      expect(maxAbsDiff(await changed.image.encode([pixels(3, 32)]), reference.data)).toBeLessThan(1e-5);
    } finally {
      await changed.close();
    }
  });

  it('pools with the [CLS] token state instead when TEXT_POOLING=cls', async () => {
    const dataDir = path.join(root, 'bert-resnet');
    const config = loadConfig({
      env: {},
      overrides: { DATA_DIR: dataDir, MODELS: 'bert-resnet', DEVICE: 'cpu', TEXT_POOLING: 'cls' },
    });
    const encoders = await loadEncoders(config, silentLogger);
    try {
      const tokenizer = await loadTokenizer(path.join(dataDir, 'models', 'bert-resnet', 'text'));
      const ids = tokenizer([captions[0]!], { add_special_tokens: true, return_tensor: false }).input_ids[0]!;
      const out = await run(
        twin.get('text/onnx/model.onnx')!,
        {
          input_ids: int64([ids]),
          attention_mask: int64([ids.map(() => 1)]),
          token_type_ids: int64([ids.map(() => 0)]),
        },
        'last_hidden_state',
      );
      const { vectors } = await encoders.text.encode([captions[0]!]);
      expect(maxAbsDiff(vectors, out.data.slice(0, 32))).toBeLessThan(1e-5);
    } finally {
      await encoders.close();
    }
  });

  it('loads a feature-extraction export (last_hidden_state, pooler_output) as it is, without a rewrite', async () => {
    const dataDir = await dataDirWith('bert-resnet-twin', 'bert-resnet', twin);
    const encoders = await loadEncoders(configFor(dataDir, 'bert-resnet'), silentLogger);
    await encoders.close();
    expect(
      existsSync(path.join(dataDir, 'models', 'bert-resnet', 'text', 'onnx', 'model.features.onnx')),
    ).toBe(false);
  });

  it('refuses an image model whose outputs cannot give pooled features, naming the file, its outputs and the fix', async () => {
    const files = new Map(standin);
    files.set('image/onnx/model.onnx', clipStandin().get('image/onnx/vision_model.onnx')!);
    const dataDir = await dataDirWith('bert-resnet-wrong', 'bert-resnet', files);
    const file = path.join(dataDir, 'models', 'bert-resnet', 'image', 'onnx', 'model.onnx');
    const error = await loadEncoders(configFor(dataDir, 'bert-resnet'), silentLogger).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('MODEL_INVALID');
    expect((error as AppError).message).toBe(
      `bert-resnet image model (${path.dirname(path.dirname(file))}): ${file} has outputs image_embeds[batch_size,12], ` +
        `last_hidden_state[batch_size,17,16], which cannot give 2048-d pooled features (the classifier's input, not the 1000 logits): ` +
        `it has no logits output to walk back from. Fix: put the files of Xenova/resnet-50 at revision ` +
        `${PROFILES['bert-resnet'].image.revision} there (\`npm run models -- fetch\`), or an export whose graph outputs pooler_output.`,
    );
  });
});

describe('bert-vgg from a bare VGG-16 classification export', () => {
  it('supplies the config files and yields fc7 after its ReLU, equal to the twin that outputs it', async () => {
    const dataDir = await dataDirWith('bert-vgg', 'bert-vgg', bertVggStandin());
    const imageDir = path.join(dataDir, 'models', 'bert-vgg', 'image');
    const encoders = await loadEncoders(configFor(dataDir, 'bert-vgg'), silentLogger);
    try {
      expect(encoders.image.preprocess).toMatchObject({ shortestEdge: 256, cropHeight: 224, cropWidth: 224 });
      expect(encoders.image.dims).toBe(32);
      const image = pixels(5, 224);
      const reference = await run(
        bertVggStandin({ twin: true }).get('image/vgg16_Opset18.onnx')!,
        { x: new ort.Tensor('float32', image.data, [1, 3, 224, 224]) },
        'pooler_output',
      );
      expect(maxAbsDiff(await encoders.image.encode([image]), reference.data)).toBeLessThan(1e-5);
      const part = PROFILES['bert-vgg'].image;
      expect(encoders.image.fingerprint).toBe(
        await fingerprintFiles(
          imageDir,
          [...part.files, 'config.json', 'preprocessor_config.json', 'vgg16_Opset18.features.onnx'],
          { preprocess: encoders.image.preprocess },
        ),
      );
    } finally {
      await encoders.close();
    }
  });
});

describe('clip from split text_model.onnx / vision_model.onnx with a byte-level BPE tokenizer', () => {
  const words = ['a', 'photo', 'of', 'a', 'dog'];

  for (const format of ['strings', 'pairs'] as const) {
    it(`tokenises with merges stored as ${format}: <|startoftext|> ... <|endoftext|>, cut at 77 keeping the end`, async () => {
      const files = clipStandin({ mergeFormat: format });
      const dataDir = await dataDirWith(`clip-${format}`, 'clip', files);
      const textDir = path.join(dataDir, 'models', 'clip', 'text');
      const vocab = (
        JSON.parse(new TextDecoder().decode(files.get('text/tokenizer.json'))) as {
          model: { vocab: Record<string, number> };
        }
      ).model.vocab;
      const expectedIds = [CLIP_BOS, ...words.map((w) => `${w}</w>`), CLIP_EOS].map((t) => vocab[t]!);
      const tokenizer = await loadTokenizer(textDir);
      expect(
        tokenizer(['A  Photo of a DOG'], { add_special_tokens: true, return_tensor: false }).input_ids,
      ).toEqual([expectedIds]);

      const encoders = await loadEncoders(configFor(dataDir, 'clip'), silentLogger);
      try {
        expect([encoders.text.dims, encoders.image.dims, encoders.text.maxLength]).toEqual([12, 12, 77]);
        const long = Array.from({ length: 100 }, () => 'dog').join(' ');
        const { vectors, truncated } = await encoders.text.encode(['a photo of a dog', long]);
        expect(truncated).toBe(1);
        const longIds = [
          vocab[CLIP_BOS]!,
          ...Array.from({ length: 75 }, () => vocab['dog</w>']!),
          vocab[CLIP_EOS]!,
        ];
        const reference = await run(
          files.get('text/onnx/text_model.onnx')!,
          { input_ids: int64([expectedIds]) },
          'text_embeds',
        );
        const referenceLong = await run(
          files.get('text/onnx/text_model.onnx')!,
          { input_ids: int64([longIds]) },
          'text_embeds',
        );
        expect(
          maxAbsDiff(vectors, new Float32Array([...reference.data, ...referenceLong.data])),
        ).toBeLessThan(1e-5);

        const image = await encoders.image.encode([pixels(4, 32)]);
        const imageRef = await run(
          files.get('image/onnx/vision_model.onnx')!,
          { pixel_values: new ort.Tensor('float32', pixels(4, 32).data, [1, 3, 32, 32]) },
          'image_embeds',
        );
        expect(maxAbsDiff(image, imageRef.data)).toBeLessThan(1e-6);
      } finally {
        await encoders.close();
      }
    });
  }

  it('pads to 77 with <|endoftext|> when the text graph fixes the sequence length, giving the same embeddings', async () => {
    const dynamic = clipStandin();
    const files = clipStandin({ staticLength: true });
    expect(viewGraph(files.get('text/onnx/text_model.onnx')!).inputs[0]!.dims).toEqual(['batch_size', 77]);
    const dataDir = await dataDirWith('clip-static', 'clip', files);
    const encoders = await loadEncoders(configFor(dataDir, 'clip'), silentLogger);
    try {
      const vocab = (
        JSON.parse(new TextDecoder().decode(files.get('text/tokenizer.json'))) as {
          model: { vocab: Record<string, number> };
        }
      ).model.vocab;
      const ids = [CLIP_BOS, 'a</w>', 'dog</w>', CLIP_EOS].map((t) => vocab[t]!);
      const padded = [...ids, ...Array.from({ length: 77 - ids.length }, () => vocab[CLIP_EOS]!)];
      const reference = await run(
        dynamic.get('text/onnx/text_model.onnx')!,
        { input_ids: int64([ids]) },
        'text_embeds',
      );
      const staticRun = await run(
        files.get('text/onnx/text_model.onnx')!,
        { input_ids: int64([padded]) },
        'text_embeds',
      );
      const { vectors } = await encoders.text.encode(['a dog']);
      expect(maxAbsDiff(vectors, staticRun.data)).toBe(0);
      expect(maxAbsDiff(vectors, reference.data)).toBeLessThan(1e-6);
    } finally {
      await encoders.close();
    }
  });
});
