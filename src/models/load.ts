import path from 'node:path';
import type { Config, Profile } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createSession, providerOf, type InferenceSession } from '../onnx/session.ts';
import { fingerprintFiles } from './fingerprint.ts';
import { OrtImageEncoder, type ImageEncoderOptions } from './image-encoder.ts';
import { prepareFeatureGraph } from './feature-graph.ts';
import { assertPartFiles, readJson, writeSuppliedFiles } from './model-files.ts';
import { parsePreprocessorConfig } from './preprocess-config.ts';
import { partDir, PROFILES } from './profiles.ts';
import { loadTokenizer, OrtTextEncoder, type TextEncoderOptions } from './text-encoder.ts';
import { ensureTinyModels } from './tiny/generate.ts';
import type { Encoders } from './types.ts';

export interface LoadEncodersOptions {
  text?: TextEncoderOptions;
  image?: ImageEncoderOptions;
  /** Load this profile instead of `config.profile` (benchmarks compare profiles). */
  profile?: Profile;
}

/**
 * Largest batch per ORT run when the caller does not say. On CPU the tiny models are compute- and
 * cache-bound: runs of 8 keep activations in cache and let the text encoder group texts by
 * length (bench:encoders, 32 images per call: 360/s in one run of 32, 480-620/s in runs of 4-8;
 * 32 captions: 900/s vs 1630/s). GPUs want large runs.
 */
const RUN_BATCH = { cpu: 8, gpu: 64 } as const;

type LoadConfig = Pick<Config, 'paths' | 'seed' | 'profile' | 'device' | 'ort'> &
  Partial<Pick<Config, 'textPooling'>>;

/**
 * Loads the text and image encoders of the configured profile from `DATA_DIR/models/<profile>`.
 * The tiny profile is generated there first when missing; the others must have been fetched
 * (`npm run models -- fetch <profile>`) or copied there: nothing here touches the network.
 * A missing or malformed directory is MODEL_MISSING / MODEL_INVALID with what to do about it.
 */
export async function loadEncoders(
  config: LoadConfig,
  logger: Logger,
  options: LoadEncodersOptions = {},
): Promise<Encoders> {
  const profile = options.profile ?? config.profile;
  if (profile === 'tiny') await ensureTinyModels(config, logger);
  if (profile === 'tiny-base') await ensureTinyModels(config, logger, 'base');
  const spec = PROFILES[profile];
  const sessionOptions = {
    device: config.device,
    intraOpThreads: config.ort.intraOpThreads,
    interOpThreads: config.ort.interOpThreads,
    logger,
    // Encoders run between tokenising, decoding and pooling in JS, and two sessions share the
    // cores: spinning workers starve both (bench:encoders on 2 shared cores: 160 -> 530 images/s
    // at batch 1 with spinning off).
    spinning: false,
  };
  const sessions: InferenceSession[] = [];
  try {
    // Text
    const textDir = partDir(config, profile, 'text');
    assertPartFiles(textDir, spec.text, profile, 'text');
    await writeSuppliedFiles(textDir, spec.text);
    const textConfig = await readJson(path.join(textDir, 'config.json'));
    const tokenizerConfig = await readJson(path.join(textDir, 'tokenizer_config.json'));
    const tokenizer = await loadTokenizer(textDir);
    const maxLength = textMaxLength(textConfig, tokenizerConfig);
    const textLabel = `${profile} text model (${textDir})`;
    const textGraph = await prepareFeatureGraph(textDir, spec.text, textLabel);
    const textSession = await createSession(path.join(textDir, textGraph.onnx), sessionOptions);
    sessions.push(textSession);
    const runBatch = providerOf(textSession) === 'cpu' ? RUN_BATCH.cpu : RUN_BATCH.gpu;
    const pooling = options.text?.pooling ?? config.textPooling ?? 'mean';
    const text = await OrtTextEncoder.create(
      textSession,
      tokenizer,
      {
        maxLength,
        fingerprint: await fingerprintFiles(textDir, textGraph.files, { pooling, maxLength }),
        where: `${textLabel}, ${textGraph.onnx}`,
        output: spec.text.features.output,
      },
      { ...options.text, pooling, batchSize: options.text?.batchSize ?? runBatch },
    );

    assertDims(text.dims, expectedTextDims(textConfig, text.output), textLabel, text.output);

    // Image
    const imageDir = partDir(config, profile, 'image');
    assertPartFiles(imageDir, spec.image, profile, 'image');
    await writeSuppliedFiles(imageDir, spec.image);
    const where = `${profile} image model (${imageDir})`;
    const preprocess = parsePreprocessorConfig(
      await readJson(path.join(imageDir, 'preprocessor_config.json')),
      where,
    );
    const imageGraph = await prepareFeatureGraph(imageDir, spec.image, where);
    const imageSession = await createSession(path.join(imageDir, imageGraph.onnx), sessionOptions);
    sessions.push(imageSession);
    const image = await OrtImageEncoder.create(
      imageSession,
      {
        preprocess,
        fingerprint: await fingerprintFiles(imageDir, imageGraph.files, { preprocess }),
        where: `${where}, ${imageGraph.onnx}`,
        output: spec.image.features.output,
        logger,
      },
      { ...options.image, batchSize: options.image?.batchSize ?? runBatch },
    );

    const imageConfig = await readJson(path.join(imageDir, 'config.json'));
    assertDims(image.dims, expectedImageDims(imageConfig, image.output), where, image.output);

    logger.debug({ profile, textDims: text.dims, imageDims: image.dims, maxLength }, 'encoders loaded');
    return {
      profile,
      text,
      image,
      providers: { text: providerOf(textSession) ?? 'cpu', image: providerOf(imageSession) ?? 'cpu' },
      close: async () => {
        await Promise.all(sessions.map((s) => s.release()));
      },
    };
  } catch (error) {
    await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
    throw error;
  }
}

/** The shorter of the tokenizer's and the position table's limits (CLIP nests it in text_config). */
function textMaxLength(config: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): number {
  const nested = config.text_config as Record<string, unknown> | undefined;
  const positions = [config.max_position_embeddings, nested?.max_position_embeddings].find(
    (v) => typeof v === 'number',
  ) as number | undefined;
  const fromTokenizer =
    typeof tokenizerConfig.model_max_length === 'number' && tokenizerConfig.model_max_length < 1e6
      ? tokenizerConfig.model_max_length
      : undefined;
  return Math.min(positions ?? 512, fromTokenizer ?? 512);
}

/** What config.json says the chosen output's width is, when it says (BERT, CLIP, HF ResNet, tiny). */
function expectedTextDims(config: Record<string, unknown>, output: string): number | undefined {
  const value = output === 'text_embeds' ? config.projection_dim : config.hidden_size;
  return typeof value === 'number' ? value : undefined;
}

function expectedImageDims(config: Record<string, unknown>, output: string): number | undefined {
  if (typeof config.pooled_size === 'number') return config.pooled_size;
  if (output === 'image_embeds')
    return typeof config.projection_dim === 'number' ? config.projection_dim : undefined;
  const sizes = config.hidden_sizes;
  if (Array.isArray(sizes) && typeof sizes.at(-1) === 'number') return sizes.at(-1) as number;
  return typeof config.hidden_size === 'number' ? config.hidden_size : undefined;
}

function assertDims(actual: number, expected: number | undefined, where: string, output: string): void {
  if (expected !== undefined && actual !== expected) {
    throw new AppError(
      'MODEL_INVALID',
      `${where}: config.json says ${output} is ${expected}-d but the graph gives ${actual}-d; the files do not belong together`,
    );
  }
}
