import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { Rng } from './rng.ts';
import { buildTinyBert, TINY_BERT_DEFAULTS, type TinyBertConfig } from './tiny-bert.ts';
import {
  buildTinyResNet,
  describePooling,
  TINY_RESNET_DEFAULTS,
  tinyResNetFeatureDims,
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

/** Every file of the tiny profile as bytes, a pure function of the seed. */
export function buildTinyModelFiles(seed: number): Map<string, Uint8Array> {
  const rng = new Rng(seed);
  const vocab = buildVocab();
  const bert: TinyBertConfig = { ...TINY_BERT_DEFAULTS, vocabSize: vocab.length };
  const resnet = TINY_RESNET_DEFAULTS;
  const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  const files = new Map<string, Uint8Array>();

  files.set(
    'text/config.json',
    json({
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
      tiny_seed: seed,
      tiny_generator: TINY_GENERATOR_VERSION,
    }),
  );
  files.set('text/tokenizer.json', json(tokenizerJson(vocab)));
  files.set('text/tokenizer_config.json', json(tokenizerConfigJson(bert.maxPositions)));
  files.set('text/onnx/model.onnx', buildTinyBert(bert, rng.fork('text')));

  files.set(
    'image/config.json',
    json({
      architectures: ['ResNetModel'],
      model_type: 'resnet',
      num_channels: 3,
      embedding_size: resnet.embeddingSize,
      hidden_sizes: resnet.hiddenSizes,
      depths: resnet.depths,
      layer_type: 'basic',
      hidden_act: 'relu',
      image_size: resnet.imageSize,
      pooled_size: tinyResNetFeatureDims(resnet),
      pooling: describePooling(resnet),
      tiny_seed: seed,
      tiny_generator: TINY_GENERATOR_VERSION,
    }),
  );
  files.set(
    'image/preprocessor_config.json',
    json({
      image_processor_type: 'ConvNextImageProcessor',
      do_resize: true,
      size: { shortest_edge: resnet.imageSize },
      do_center_crop: true,
      crop_size: { height: resnet.imageSize, width: resnet.imageSize },
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: [0.485, 0.456, 0.406],
      image_std: [0.229, 0.224, 0.225],
      resample: 3,
    }),
  );
  files.set('image/onnx/model.onnx', buildTinyResNet(resnet, rng.fork('image')));
  return files;
}

/** Writes the tiny profile into `dir` (atomically: a temp folder renamed into place). */
export async function writeTinyModels(dir: string, seed: number): Promise<Record<string, number>> {
  const files = buildTinyModelFiles(seed);
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
 * Makes sure `DATA_DIR/models/tiny` exists, generating it from `config.seed` when a file is
 * missing or an older generator wrote it. Current files made with another seed are kept (with a
 * warning): their fingerprint says which seed made them.
 */
export async function ensureTinyModels(
  config: Pick<Config, 'paths' | 'seed'>,
  logger?: Logger,
): Promise<TinyGeneration> {
  const dir = path.join(config.paths.models, 'tiny');
  const started = performance.now();
  const existing = hasTinyModels(dir) ? await generatorOf(dir) : undefined;
  if (existing?.version === TINY_GENERATOR_VERSION) {
    if (existing.seed !== config.seed) {
      logger?.warn(
        { dir, filesSeed: existing.seed, seed: config.seed },
        'tiny models were generated with another seed; keeping them (run `npm run models -- tiny` to regenerate)',
      );
    }
    return { dir, generated: false, ms: 0, sizes: {} };
  }
  logger?.info(
    { dir, seed: config.seed, found: existing?.version ?? 'none', generator: TINY_GENERATOR_VERSION },
    existing ? 'tiny models are from an older generator; regenerating' : 'generating the tiny models',
  );
  const sizes = await writeTinyModels(dir, config.seed);
  const ms = Math.round(performance.now() - started);
  logger?.info({ dir, ms, sizes }, 'tiny models written');
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
