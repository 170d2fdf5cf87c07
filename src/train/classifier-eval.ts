import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { ClassifierInputs, Fusion } from '../models/classifier.ts';
import { loadProjection } from '../models/projection.ts';
import type { Encoders } from '../models/types.ts';
import type { TaskData } from './classifier-data.ts';
import { bestThreshold, rocAuc, thresholdAccuracy } from './classifier-metrics.ts';
import type { TaskSplit } from './fit-classifier.ts';
import { fitOnTask, withTaskData, type TrainClassifierOptions } from './train-classifier.ts';
import type { TaskName } from './synthetic/tasks.ts';

/**
 * The held-out comparison behind `npm run eval-classifier`: the fused head (sum and concat) against
 * baselines trained the same way (same data, options, seed and early stopping) on one modality, and,
 * for `match`, the contrastive projection's cosine thresholded where validation puts it.
 */

export type Variant = 'sum' | 'concat' | 'textOnly' | 'imageOnly';
const VARIANTS: Record<Variant, { fusion: Fusion; inputs: ClassifierInputs }> = {
  sum: { fusion: 'sum', inputs: 'both' },
  concat: { fusion: 'concat', inputs: 'both' },
  textOnly: { fusion: 'sum', inputs: 'text' },
  imageOnly: { fusion: 'sum', inputs: 'image' },
};

export interface TaskEvaluation {
  task: TaskName;
  /** Test-split accuracy of each model; `cosine` for `match` only. */
  accuracy: Record<Variant, number> & { cosine?: number };
  /** `match` only: ROC-AUC of each model's match probability (the cosine for `cosine`). */
  rocAuc?: Record<Variant, number> & { cosine?: number };
  /** Accuracy per example kind (match: true captions and each changed attribute). */
  byKind: Record<Variant, Record<string, number>>;
  /** Chance: the share of the most frequent test label. */
  majority: number;
  examples: { train: number; val: number; test: number };
  epochs: Record<Variant, { run: number; best: number }>;
  /** Cosine baseline only: whether the projection was trained, and the threshold validation chose. */
  cosine?: { projectionTrained: boolean; projection: string; threshold: number };
}

export async function evaluateClassifiers(
  config: Config,
  options: Omit<TrainClassifierOptions, 'fusion' | 'onEpoch'> & { onVariant?: (v: string) => void },
  logger: Logger,
): Promise<TaskEvaluation> {
  return withTaskData(config, options, logger, async (data, encoders) => {
    const test = data.splits.test;
    const accuracy = {} as TaskEvaluation['accuracy'];
    const auc = {} as NonNullable<TaskEvaluation['rocAuc']>;
    const byKind = {} as TaskEvaluation['byKind'];
    const epochs = {} as TaskEvaluation['epochs'];
    for (const [name, head] of Object.entries(VARIANTS) as [Variant, (typeof VARIANTS)[Variant]][]) {
      options.onVariant?.(name);
      const hidden = options.hiddenDims === undefined ? {} : { hiddenDims: options.hiddenDims };
      const r = await fitOnTask(config, data, { ...head, ...hidden }, options, logger);
      accuracy[name] = r.test.accuracy;
      if (r.test.rocAuc !== undefined) auc[name] = r.test.rocAuc;
      byKind[name] = kindAccuracy(r.probs, test, data.labels.length);
      epochs[name] = { run: r.fit.epochsRun, best: r.fit.bestEpoch };
    }
    const result: TaskEvaluation = {
      task: data.task,
      accuracy,
      byKind,
      majority: majorityShare(test.labels),
      examples: {
        train: data.splits.train.labels.length,
        val: data.splits.val.labels.length,
        test: test.labels.length,
      },
      epochs,
    };
    if (data.task === 'match') {
      options.onVariant?.('cosine');
      const cosine = await cosineBaseline(config, data, encoders, logger);
      accuracy.cosine = cosine.accuracy;
      auc.cosine = cosine.rocAuc;
      result.cosine = cosine.info;
      result.rocAuc = auc;
    }
    return result;
  });
}

function kindAccuracy(probs: Float32Array, split: TaskSplit & { kinds: string[] }, classes: number) {
  const tally = new Map<string, { right: number; all: number }>();
  split.kinds.forEach((kind, i) => {
    const row = probs.subarray(i * classes, (i + 1) * classes);
    const arg = row.indexOf(Math.max(...row));
    const t = tally.get(kind) ?? { right: 0, all: 0 };
    t.all++;
    if (arg === split.labels[i]) t.right++;
    tally.set(kind, t);
  });
  return Object.fromEntries([...tally].map(([k, t]) => [k, t.right / t.all]));
}

function majorityShare(labels: Int32Array): number {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return Math.max(...counts.values()) / Math.max(1, labels.length);
}

/** Cosine of each example's projected text and image, through the active (or initial) projection. */
async function cosines(
  split: TaskSplit,
  projection: Awaited<ReturnType<typeof loadProjection>>,
): Promise<Float32Array> {
  const n = split.labels.length;
  const zt = await projection.projectText(split.text, n);
  const zi = await projection.projectImage(split.image, split.image.length / split.imageDims);
  const d = projection.dims;
  return Float32Array.from({ length: n }, (_, e) => {
    const img = split.imageOf[e] as number;
    let dot = 0;
    for (let k = 0; k < d; k++) dot += (zt[e * d + k] as number) * (zi[img * d + k] as number);
    return dot;
  });
}

async function cosineBaseline(config: Config, data: TaskData, encoders: Encoders, logger: Logger) {
  const projection = await loadProjection(config, encoders, logger);
  try {
    const threshold = bestThreshold(await cosines(data.splits.val, projection), data.splits.val.labels);
    const test = await cosines(data.splits.test, projection);
    return {
      accuracy: thresholdAccuracy(test, data.splits.test.labels, threshold),
      rocAuc: rocAuc(test, data.splits.test.labels),
      info: { projectionTrained: projection.trained, projection: projection.fingerprint, threshold },
    };
  } finally {
    await projection.close();
  }
}
