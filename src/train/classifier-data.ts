import path from 'node:path';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { decodeImage } from '../media/image-decode.ts';
import type { Encoders } from '../models/types.ts';
import { cachedFeatures, type PairedFeatures } from './feature-cache.ts';
import type { TaskSplit } from './fit-classifier.ts';
import { loadPairedData, type PairedData, type Split } from './paired-data.ts';
import { createRng, deriveSeed } from './rng.ts';
import { ensureSampleData } from './synthetic/generate.ts';
import {
  attributeExamples,
  matchExamples,
  TASK_LABELS,
  TASK_NAMES,
  type TaskExample,
  type TaskName,
} from './synthetic/tasks.ts';

/**
 * A labelled task's examples as cached features. The task texts stand in for the captions of a
 * paired data set, so the trainer's feature cache (feature-cache.ts) encodes and keeps them with
 * the images, keyed by the encoders, the images and every text: a second run reads them back.
 */

export interface TaskData {
  task: TaskName;
  labels: readonly string[];
  splits: Record<Split, TaskSplit & { kinds: TaskExample['kind'][] }>;
  dataPath: string;
  images: number;
  cacheKey: string;
  fromCache: boolean;
}

/** Images in the default task set: enough for a stable held-out accuracy, a minute to encode on tiny. */
export const DEFAULT_TASK_IMAGES = 3000;

/**
 * Texts per image. Matching is learnt from text-image combinations, not from images alone: with 4
 * texts per image (3000 images) the fused head stayed at chance on held-out match (49.4%,
 * overfitting from epoch 8); with 12 it reached 78.2%. Texts cost far less to encode than images.
 */
export const EXAMPLES_PER_IMAGE = 12;

export function checkTask(task: string): TaskName {
  if (!(TASK_NAMES as readonly string[]).includes(task))
    throw new AppError('INVALID_INPUT', `unknown task "${task}"; known tasks: ${TASK_NAMES.join(', ')}`);
  return task as TaskName;
}

/** The synthetic set the tasks are drawn from, under DATA_DIR/samples-tasks (its own seed: no image is shared with training or the index). */
export async function ensureTaskData(config: Config, n = DEFAULT_TASK_IMAGES): Promise<string> {
  const set = await ensureSampleData({
    ifDifferent: 'regenerate',
    outDir: path.join(config.dataDir, 'samples-tasks'),
    n,
    seed: config.seed + 2,
  });
  return set.manifestPath;
}

export async function taskFeatures(
  config: Config,
  encoders: Encoders,
  options: {
    task: TaskName;
    dataPath: string;
    seed: number;
    onEncodeProgress?: (done: number, total: number) => void;
  },
  logger: Logger,
): Promise<TaskData> {
  const data = await loadPairedData(options.dataPath);
  const examples = data.items.map((item, i) => {
    if (item.scene === undefined)
      throw new AppError(
        'SOURCE_INVALID',
        `task ${options.task} needs a synthetic manifest that records each scene (metadata.attributes), as \`npm run sample-data\` writes; ${item.imagePath} has none`,
      );
    const rng = createRng(deriveSeed(options.seed, `task:${options.task}:${i}`));
    return options.task === 'match'
      ? matchExamples(rng, item.scene, EXAMPLES_PER_IMAGE / 2)
      : attributeExamples(rng, item.scene, EXAMPLES_PER_IMAGE);
  });
  const asPairs: PairedData = {
    ...data,
    items: data.items.map((item, i) => ({
      imagePath: item.imagePath,
      split: item.split,
      captions: examples[i]!.map((e) => e.text),
    })),
  };
  const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
  const features = await cachedFeatures(asPairs, encoders, {
    cacheDir: config.paths.cache,
    limits,
    decode: (bytes) => decodeImage(bytes, encoders.image.preprocess, limits),
    logger,
    ...(options.onEncodeProgress ? { onProgress: options.onEncodeProgress } : {}),
  });
  const kept = features.kept.map((i) => examples[i]!);
  const split = (s: Split) => selectTaskSplit(features, kept, s);
  return {
    task: options.task,
    labels: TASK_LABELS[options.task],
    splits: { train: split('train'), val: split('val'), test: split('test') },
    dataPath: data.path,
    images: features.items.length,
    cacheKey: features.key,
    fromCache: features.fromCache,
  };
}

function selectTaskSplit(
  f: PairedFeatures,
  examples: TaskExample[][],
  split: Split,
): TaskSplit & { kinds: TaskExample['kind'][] } {
  const rows = f.items.flatMap((item, i) => (item.split === split ? [i] : []));
  const firstCaption: number[] = [];
  let c = 0;
  for (const item of f.items) {
    firstCaption.push(c);
    c += item.captions.length;
  }
  const image = new Float32Array(rows.length * f.imageDims);
  const picked = rows.flatMap((r, i) => {
    image.set(f.image.subarray(r * f.imageDims, (r + 1) * f.imageDims), i * f.imageDims);
    return examples[r]!.map((e, k) => ({ e, row: firstCaption[r]! + k, img: i }));
  });
  const text = new Float32Array(picked.length * f.textDims);
  picked.forEach((p, i) =>
    text.set(f.text.subarray(p.row * f.textDims, (p.row + 1) * f.textDims), i * f.textDims),
  );
  return {
    text,
    image,
    textDims: f.textDims,
    imageDims: f.imageDims,
    imageOf: Int32Array.from(picked, (p) => p.img),
    labels: Int32Array.from(picked, (p) => p.e.label),
    kinds: picked.map((p) => p.e.kind),
  };
}
