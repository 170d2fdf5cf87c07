import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { CLASSIFIER_DROPOUT, type ClassifierInputs, type Fusion } from '../models/classifier.ts';
import { classifierDir, commitClassifier } from '../models/classifier-store.ts';
import { loadEncoders } from '../models/load.ts';
import { PROFILES } from '../models/profiles.ts';
import type { Encoders } from '../models/types.ts';
import { ensureTaskData, taskFeatures, type TaskData } from './classifier-data.ts';
import { rocAuc } from './classifier-metrics.ts';
import {
  CLASSIFIER_FIT_DEFAULTS,
  fitClassifier,
  predictSplit,
  scoreProbs,
  type FitClassifierOptions,
  type FitClassifierResult,
  type SplitScores,
} from './fit-classifier.ts';
import { runtimeOf } from './train-projection.ts';
import type { TaskName } from './synthetic/tasks.ts';

export interface TrainClassifierOptions extends FitClassifierOptions {
  task: TaskName;
  /** A synthetic JSONL manifest (with scene attributes). @default DATA_DIR/samples-tasks, generated when missing */
  dataPath?: string;
  /** Images in the generated set when `dataPath` is not given. @default 3000 */
  taskImages?: number;
  /** @default 'sum' */
  fusion?: Fusion;
  /** @default the profile's classifierHidden */
  hiddenDims?: number;
  /** Already-open encoders (the caller keeps ownership); otherwise loaded and closed here. */
  encoders?: Encoders;
  onEpoch?: Parameters<typeof fitClassifier>[5];
}

export interface ClassifierCard {
  fingerprint: string;
  task: TaskName;
  profile: string;
  date: string;
  labels: string[];
  head: { fusion: Fusion; inputs: ClassifierInputs; hiddenDims: number; dropout: number };
  encoders: { text: { fingerprint: string; dims: number }; image: { fingerprint: string; dims: number } };
  data: {
    path: string;
    images: number;
    examples: { train: number; val: number; test: number };
    cacheKey: string;
  };
  training: {
    epochsPlanned: number;
    epochsRun: number;
    bestEpoch: number;
    batchSize: number;
    lr: number;
    weightDecay: number;
    seed: number;
    examplesPerSecond: number;
    seconds: number;
  };
  scores: { val?: SplitScores; test: SplitScores & { rocAuc?: number } };
}

export { classifierDir };

/** Opens the encoders (unless given) and the task's cached features, for training or evaluation. */
export async function withTaskData<T>(
  config: Config,
  options: Pick<TrainClassifierOptions, 'task' | 'dataPath' | 'taskImages' | 'seed' | 'encoders'>,
  logger: Logger,
  fn: (data: TaskData, encoders: Encoders) => Promise<T>,
): Promise<T> {
  const encoders = options.encoders ?? (await loadEncoders(config, logger));
  try {
    const dataPath = options.dataPath ?? (await ensureTaskData(config, options.taskImages));
    const data = await taskFeatures(
      config,
      encoders,
      { task: options.task, dataPath, seed: options.seed ?? config.seed },
      logger,
    );
    return await fn(data, encoders);
  } finally {
    if (options.encoders === undefined) await encoders.close();
  }
}

/** Trains one head of the given fusion and inputs on a task's train split, validated on its val split. */
export async function fitOnTask(
  config: Config,
  data: TaskData,
  head: { fusion: Fusion; inputs: ClassifierInputs; hiddenDims?: number },
  options: FitClassifierOptions & { onEpoch?: TrainClassifierOptions['onEpoch'] },
  logger: Logger,
): Promise<{ fit: FitClassifierResult; test: SplitScores & { rocAuc?: number }; probs: Float32Array }> {
  const { train, val, test } = data.splits;
  const shape = {
    fusion: head.fusion,
    inputs: head.inputs,
    textDims: train.textDims,
    imageDims: train.imageDims,
    hiddenDims: head.hiddenDims ?? PROFILES[config.profile].classifierHidden,
    classes: data.labels.length,
    labels: [...data.labels],
  };
  const runtime = runtimeOf(config, logger);
  const fit = await fitClassifier(
    train,
    val.labels.length > 0 ? val : undefined,
    shape,
    { ...options, seed: options.seed ?? config.seed },
    runtime,
    options.onEpoch,
  );
  const probs = await predictSplit(fit.weights, test, runtime);
  const scores: SplitScores & { rocAuc?: number } = scoreProbs(probs, test.labels, shape.classes);
  if (shape.classes === 2)
    scores.rocAuc = rocAuc(
      probs.filter((_, i) => i % 2 === 1),
      test.labels,
    );
  return { fit, test: scores, probs };
}

/**
 * Frozen encoders -> cached task features -> cross-entropy training of the fusion head -> weights
 * and card under DATA_DIR/classifiers/<profile>/<task>/, scored on the held-out test split.
 */
export async function trainClassifier(
  config: Config,
  options: TrainClassifierOptions,
  logger: Logger,
): Promise<{ card: ClassifierCard; dir: string }> {
  return withTaskData(config, options, logger, async (data, encoders) => {
    const fusion = options.fusion ?? 'sum';
    const { fit, test } = await fitOnTask(
      config,
      data,
      { fusion, inputs: 'both', ...pickHidden(options) },
      options,
      logger,
    );
    const dir = classifierDir(config, data.task);
    const w = fit.weights;
    const count = (s: keyof TaskData['splits']) => data.splits[s].labels.length;
    // One date: the card is built for the file and again for the caller, and both must agree.
    const date = new Date().toISOString();
    const cardOf = (fingerprint: string): ClassifierCard => ({
      fingerprint,
      task: data.task,
      profile: config.profile,
      date,
      labels: w.labels,
      head: { fusion: w.fusion, inputs: w.inputs, hiddenDims: w.hiddenDims, dropout: CLASSIFIER_DROPOUT },
      encoders: {
        text: { fingerprint: encoders.text.fingerprint, dims: encoders.text.dims },
        image: { fingerprint: encoders.image.fingerprint, dims: encoders.image.dims },
      },
      data: {
        path: data.dataPath,
        images: data.images,
        examples: { train: count('train'), val: count('val'), test: count('test') },
        cacheKey: data.cacheKey,
      },
      training: {
        epochsPlanned: options.epochs ?? CLASSIFIER_FIT_DEFAULTS.epochs,
        epochsRun: fit.epochsRun,
        bestEpoch: fit.bestEpoch,
        batchSize: Math.min(options.batchSize ?? CLASSIFIER_FIT_DEFAULTS.batchSize, count('train')),
        lr: options.lr ?? CLASSIFIER_FIT_DEFAULTS.lr,
        weightDecay: options.weightDecay ?? CLASSIFIER_FIT_DEFAULTS.weightDecay,
        seed: options.seed ?? config.seed,
        examplesPerSecond: Math.round(fit.examplesPerSecond),
        seconds: Number(fit.seconds.toFixed(2)),
      },
      scores: { ...(fit.validation ? { val: fit.validation } : {}), test },
    });
    const encoderIds = { text: encoders.text.fingerprint, image: encoders.image.fingerprint };
    const fingerprint = await commitClassifier(dir, data.task, w, encoderIds, cardOf);
    logger.info({ task: data.task, fingerprint, dir, test }, 'classifier trained');
    return { card: cardOf(fingerprint), dir };
  });
}

function pickHidden(o: { hiddenDims?: number }): { hiddenDims?: number } {
  return o.hiddenDims === undefined ? {} : { hiddenDims: o.hiddenDims };
}
