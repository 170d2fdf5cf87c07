import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config, Profile } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { buildBaseResNet, RESNET_50 } from './base-resnet.ts';
import { Rng } from './rng.ts';
import { buildTinyBert, TINY_BERT_DEFAULTS, type TinyBertConfig } from './tiny-bert.ts';
import {
  buildTinyResNet,
  describePooling,
  TINY_RESNET_DEFAULTS,
  tinyResNetFeatureDims,
  type TinyResNetConfig,
} from './tiny-resnet.ts';
import { buildVocab, tokenizerConfigJson, tokenizerJson } from './tokenizer-files.ts';

/**
 * Bumped whenever the generator's output changes for a given seed, so directories written by an
 * older generator are regenerated instead of silently kept.
 */
export const TINY_GENERATOR_VERSION = 2;

/** Files of the tiny profile, relative to its directory; their presence means "generated". */
export const TINY_FILES = [
  'text/config.json',
  'text/tokenizer.json',
  'text/tokenizer_config.json',
  'text/onnx/model.onnx',
  'image/config.json',
  'image/preprocessor_config.json',
  'image/onnx/model.onnx',
] as const;

export interface TinyGeneration {
  dir: string;
  /** false when the files were already there. */
  generated: boolean;
  ms: number;
  /** Bytes per file, relative path -> size. */
  sizes: Record<string, number>;
}

/**
 * `tiny`: the small test models. `base`: the same layout with the real architectures' sizes
 * (BERT-base, ResNet-50), random weights, so benchmarks cost what real models cost.
 */
export type TinySize = 'tiny' | 'base';

/** The profile, and so the `DATA_DIR/models/<profile>` directory, each size is written to. */
export const TINY_PROFILE = { tiny: 'tiny', base: 'tiny-base' } as const satisfies Record<TinySize, Profile>;

/** bert-base-uncased's shape: 12 layers, hidden 768, 12 heads, FFN 3072, 512 positions, 30,522 tokens. */
export const BERT_BASE: TinyBertConfig = {
  ...TINY_BERT_DEFAULTS,
  vocabSize: 30_522,
  hiddenSize: 768,
  numLayers: 12,
  numHeads: 12,
  intermediateSize: 3072,
  maxPositions: 512,
};

/** Every file of the tiny profile (or its base-size variant) as bytes, a pure function of the seed. */
export function buildTinyModelFiles(seed: number, size: TinySize = 'tiny'): Map<string, Uint8Array> {
  const rng = new Rng(seed);
  const marks = {
    tiny_seed: seed,
    tiny_generator: TINY_GENERATOR_VERSION,
    ...(size === 'base' && { tiny_size: size }),
  };
  const vocab = buildVocab();
  if (size === 'base') {
    // Real BERT's vocabulary has [unusedN] slots too; here they only give the embedding its real size.
    for (let i = 0; vocab.length < BERT_BASE.vocabSize; i++) vocab.push(`[unused${i}]`);
  }
  const bert: TinyBertConfig =
    size === 'base' ? BERT_BASE : { ...TINY_BERT_DEFAULTS, vocabSize: vocab.length };
  const files = new Map<string, Uint8Array>();

  files.set('text/config.json', json({ ...bertConfigJson(bert), ...marks }));
  files.set('text/tokenizer.json', json(tokenizerJson(vocab)));
  files.set('text/tokenizer_config.json', json(tokenizerConfigJson(bert.maxPositions)));
  files.set('text/onnx/model.onnx', buildTinyBert(bert, rng.fork('text')));

  if (size === 'base') {
    const resnet = RESNET_50;
    files.set(
      'image/config.json',
      json({
        ...resnetConfigJson(resnet, 'bottleneck'),
        pooled_size: resnet.hiddenSizes.at(-1),
        pooling: 'gap(last stage)',
        ...marks,
      }),
    );
    files.set('image/preprocessor_config.json', json(preprocessorJson(resnet.imageSize)));
    files.set('image/onnx/model.onnx', buildBaseResNet(resnet, rng.fork('image')));
  } else {
    const resnet = TINY_RESNET_DEFAULTS;
    files.set(
      'image/config.json',
      json({
        ...resnetConfigJson(resnet, 'basic'),
        pooled_size: tinyResNetFeatureDims(resnet),
        pooling: describePooling(resnet),
        ...marks,
      }),
    );
    files.set('image/preprocessor_config.json', json(preprocessorJson(resnet.imageSize)));
    files.set('image/onnx/model.onnx', buildTinyResNet(resnet, rng.fork('image')));
  }
  return files;
}

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** config.json with bert-base-uncased's key names. */
function bertConfigJson(bert: TinyBertConfig): Record<string, unknown> {
  return {
    architectures: ['BertModel'],
    model_type: 'bert',
    vocab_size: bert.vocabSize,
    hidden_size: bert.hiddenSize,
    num_hidden_layers: bert.numLayers,
    num_attention_heads: bert.numHeads,
    intermediate_size: bert.intermediateSize,
    hidden_act: 'gelu',
    max_position_embeddings: bert.maxPositions,
    type_vocab_size: bert.typeVocabSize,
    layer_norm_eps: bert.layerNormEps,
    pad_token_id: 0,
    initializer_range: 0.02,
  };
}

/** config.json with Hugging Face ResNetConfig's key names. */
function resnetConfigJson(
  resnet: Pick<TinyResNetConfig, 'embeddingSize' | 'hiddenSizes' | 'depths' | 'imageSize'>,
  layerType: 'basic' | 'bottleneck',
): Record<string, unknown> {
  return {
    architectures: ['ResNetModel'],
    model_type: 'resnet',
    num_channels: 3,
    embedding_size: resnet.embeddingSize,
    hidden_sizes: resnet.hiddenSizes,
    depths: resnet.depths,
    layer_type: layerType,
    hidden_act: 'relu',
    image_size: resnet.imageSize,
  };
}

function preprocessorJson(imageSize: number): Record<string, unknown> {
  return {
    image_processor_type: 'ConvNextImageProcessor',
    do_resize: true,
    size: { shortest_edge: imageSize },
    do_center_crop: true,
    crop_size: { height: imageSize, width: imageSize },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
    resample: 3,
  };
}

/** Writes the tiny profile into `dir` (atomically: a temp folder renamed into place). */
export async function writeTinyModels(
  dir: string,
  seed: number,
  size: TinySize = 'tiny',
): Promise<Record<string, number>> {
  const files = buildTinyModelFiles(seed, size);
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  const sizes: Record<string, number> = {};
  for (const [rel, bytes] of files) {
    const target = path.join(tmp, rel);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, bytes);
    sizes[rel] = bytes.byteLength;
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  try {
    await rename(tmp, dir);
  } catch (error) {
    // Another process finished the same (deterministic) generation first: keep theirs.
    await rm(tmp, { recursive: true, force: true });
    if (!hasTinyModels(dir)) throw error;
  }
  return sizes;
}

export function hasTinyModels(dir: string): boolean {
  return TINY_FILES.every((rel) => existsSync(path.join(dir, rel)));
}

/**
 * Makes sure `DATA_DIR/models/tiny` (or `tiny-base` for the base size) exists, generating it from `config.seed` when a file is
 * missing or an older generator wrote it. Current files made with another seed are kept (with a
 * warning): their fingerprint says which seed made them.
 */
export async function ensureTinyModels(
  config: Pick<Config, 'paths' | 'seed'>,
  logger?: Logger,
  size: TinySize = 'tiny',
): Promise<TinyGeneration> {
  const dir = path.join(config.paths.models, TINY_PROFILE[size]);
  const started = performance.now();
  const existing = hasTinyModels(dir) ? await generatorOf(dir) : undefined;
  if (existing?.version === TINY_GENERATOR_VERSION) {
    if (existing.seed !== config.seed) {
      logger?.warn(
        { dir, filesSeed: existing.seed, seed: config.seed },
        `${TINY_PROFILE[size]} models were generated with another seed; keeping them (run \`npm run models -- tiny${size === 'base' ? ' --size base' : ''}\` to regenerate)`,
      );
    }
    return { dir, generated: false, ms: 0, sizes: {} };
  }
  logger?.info(
    { dir, seed: config.seed, found: existing?.version ?? 'none', generator: TINY_GENERATOR_VERSION },
    existing
      ? `${TINY_PROFILE[size]} models are from an older generator; regenerating`
      : `generating the ${TINY_PROFILE[size]} models`,
  );
  const sizes = await writeTinyModels(dir, config.seed, size);
  const ms = Math.round(performance.now() - started);
  logger?.info({ dir, ms, sizes }, `${TINY_PROFILE[size]} models written`);
  return { dir, generated: true, ms, sizes };
}

/** Which generator version and seed wrote a tiny directory (version 1 did not record itself). */
async function generatorOf(dir: string): Promise<{ version: number; seed: number | undefined }> {
  try {
    const config = JSON.parse(await readFile(path.join(dir, 'image/config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    return {
      version: typeof config.tiny_generator === 'number' ? config.tiny_generator : 1,
      seed: typeof config.tiny_seed === 'number' ? config.tiny_seed : undefined,
    };
  } catch {
    return { version: 0, seed: undefined };
  }
}
