import {
  branchesOf,
  classifierFromWeights,
  classifierParams,
  CLASSIFIER_DROPOUT,
  fusedWidth,
  type ClassifierShape,
  type ClassifierWeights,
} from '../models/classifier.ts';
import { standardisation, standardiseRows } from '../models/projection-init.ts';
import type { ProjectionRuntime } from '../models/projection.ts';
import { AppError } from '../errors.ts';
import { ClassifierStep } from './classifier-step.ts';
import { assertFiniteFeatures, checkOptions, FitOptionsSchema } from './fit-options.ts';
import { trainingRuntime } from './fit.ts';
import { AdamW, learningRate } from './optimizer.ts';
import { createRng, deriveSeed } from './rng.ts';
import type { Params } from './train-step.ts';

/** One split of a labelled task: an example is (its text row, its image row, its label). */
export interface TaskSplit {
  /** [examples, textDims] */
  text: Float32Array;
  /** [images, imageDims]; examples share the rows of their image. */
  image: Float32Array;
  textDims: number;
  imageDims: number;
  imageOf: Int32Array;
  labels: Int32Array;
}

export interface FitClassifierOptions {
  /** @default 40 */
  epochs?: number;
  /** @default 128 */
  batchSize?: number;
  /** @default 0.001 */
  lr?: number;
  /** @default 0.01 */
  weightDecay?: number;
  /** @default 0.05 */
  warmup?: number;
  /** Epochs without a better validation accuracy before stopping. @default 6 */
  patience?: number;
  /** @default 42 */
  seed?: number;
}

export const CLASSIFIER_FIT_DEFAULTS = {
  epochs: 40,
  batchSize: 128,
  lr: 0.001,
  weightDecay: 0.01,
  warmup: 0.05,
  patience: 6,
  seed: 42,
};

export interface SplitScores {
  accuracy: number;
  loss: number;
}

export interface FitClassifierResult {
  weights: ClassifierWeights;
  epochsRun: number;
  bestEpoch: number;
  validation: SplitScores | undefined;
  examplesPerSecond: number;
  seconds: number;
}

/** PyTorch's nn.Linear start: weights and biases uniform in +-1/sqrt(fan-in). */
export function initialClassifierParams(s: ClassifierShape, seed: number): Params {
  const rng = createRng(deriveSeed(seed, 'classifier-init'));
  const params: Params = new Map();
  const shapes = new Map(classifierParams(s));
  for (const [name, dims] of shapes) {
    // A bias takes the fan-in of its weight matrix (`x.b1` -> `x.w1`).
    const fanIn = (shapes.get(name.replace(/\.b(\d)$/, '.w$1')) as number[])[0] as number;
    const bound = 1 / Math.sqrt(fanIn);
    const size = dims.reduce((a, b) => a * b, 1);
    params.set(
      name,
      Float32Array.from({ length: size }, () => (rng.next() * 2 - 1) * bound),
    );
  }
  return params;
}

/**
 * Trains the classifier on cached features with cross-entropy: AdamW, warm-up then cosine decay,
 * dropout 0.1 from a seeded mask, and early stopping on validation accuracy (ties: lower loss).
 * The training-step graph gives loss and gradients; the kept epoch is the best on validation.
 */
export async function fitClassifier(
  train: TaskSplit,
  val: TaskSplit | undefined,
  shape: ClassifierShape & { labels: string[] },
  options: FitClassifierOptions,
  hostRuntime: ProjectionRuntime,
  onEpoch?: (e: { epoch: number; loss: number; val?: SplitScores; best: boolean }) => void,
): Promise<FitClassifierResult> {
  checkOptions(FitOptionsSchema, { ...options });
  const o = {
    ...CLASSIFIER_FIT_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  const runtime = trainingRuntime(hostRuntime);
  const n = train.labels.length;
  const batch = Math.min(o.batchSize, n);
  if (batch < 2) throw new AppError('INVALID_INPUT', `training needs at least 2 examples, got ${n}`);
  assertFiniteFeatures('training text', train.text, train.textDims);
  assertFiniteFeatures('training image', train.image, train.imageDims);

  const tensors: Record<string, Float32Array> = {};
  const stats = {
    text: standardisation(train.text, train.textDims),
    image: standardisation(train.image, train.imageDims),
  };
  for (const side of branchesOf(shape.inputs)) {
    tensors[`${side}.mean`] = stats[side].mean;
    tensors[`${side}.invStd`] = stats[side].invStd;
  }
  const xs = {
    text: standardiseRows(train.text, stats.text),
    image: standardiseRows(train.image, stats.image),
  };
  const params = initialClassifierParams(shape, o.seed);
  const step = await ClassifierStep.create(shape, runtime);
  const optimizer = new AdamW({ weightDecay: o.weightDecay });
  const rng = createRng(deriveSeed(o.seed, 'classifier-batches'));
  const stepsPerEpoch = Math.floor(n / batch);
  const totalSteps = stepsPerEpoch * o.epochs;
  const warmupSteps = Math.max(1, Math.round(totalSteps * o.warmup));
  const width = fusedWidth(shape);
  const bx = {
    text: new Float32Array(batch * train.textDims),
    image: new Float32Array(batch * train.imageDims),
  };
  const targets = new Float32Array(batch * shape.classes);
  const mask = new Float32Array(batch * width);
  const order = Array.from({ length: n }, (_, i) => i);
  const snapshot = (): ClassifierWeights => ({
    ...shape,
    tensors: { ...tensors, ...Object.fromEntries([...params].map(([k, v]) => [k, v.slice()])) },
  });
  let best:
    { epoch: number; weights: ClassifierWeights; scores: SplitScores | undefined; key: number[] } | undefined;
  let globalStep = 0;
  let seconds = 0;
  let epoch = 0;
  try {
    for (epoch = 1; epoch <= o.epochs; epoch++) {
      rng.shuffle(order);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const started = performance.now();
        targets.fill(0);
        for (let k = 0; k < batch; k++) {
          const e = order[s * batch + k] as number;
          const img = train.imageOf[e] as number;
          bx.text.set(xs.text.subarray(e * train.textDims, (e + 1) * train.textDims), k * train.textDims);
          bx.image.set(
            xs.image.subarray(img * train.imageDims, (img + 1) * train.imageDims),
            k * train.imageDims,
          );
          targets[k * shape.classes + (train.labels[e] as number)] = 1;
        }
        for (let i = 0; i < mask.length; i++)
          mask[i] = rng.next() < CLASSIFIER_DROPOUT ? 0 : 1 / (1 - CLASSIFIER_DROPOUT);
        const { loss, grads } = await step.run(bx, targets, mask, batch, params);
        if (!Number.isFinite(loss))
          throw new AppError(
            'TRAINING_DIVERGED',
            `training diverged at step ${globalStep} (loss ${loss}); lower --lr`,
          );
        optimizer.step(params, grads, learningRate(globalStep, totalSteps, o.lr, warmupSteps));
        seconds += (performance.now() - started) / 1000;
        lossSum += loss;
        globalStep++;
      }
      const current = snapshot();
      const scores =
        val === undefined
          ? undefined
          : scoreProbs(await predictSplit(current, val, runtime), val.labels, shape.classes);
      // Higher is better: validation accuracy, then lower validation loss; without validation, lower training loss.
      const key = scores ? [scores.accuracy, -scores.loss] : [-lossSum / stepsPerEpoch];
      const improved = best === undefined || compareKeys(key, best.key) > 0;
      if (improved) best = { epoch, weights: current, scores, key };
      onEpoch?.({ epoch, loss: lossSum / stepsPerEpoch, ...(scores ? { val: scores } : {}), best: improved });
      if (best !== undefined && epoch - best.epoch >= o.patience) break;
    }
  } finally {
    await step.close();
  }
  const chosen = best as NonNullable<typeof best>;
  return {
    weights: chosen.weights,
    epochsRun: Math.min(epoch, o.epochs),
    bestEpoch: chosen.epoch,
    validation: chosen.scores,
    examplesPerSecond: (globalStep * batch) / Math.max(seconds, 1e-9),
    seconds,
  };
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

/** Class probabilities [examples, N] of a split through the inference graph, in chunks. */
export async function predictSplit(
  w: ClassifierWeights,
  split: TaskSplit,
  runtime: ProjectionRuntime,
): Promise<Float32Array> {
  const model = await classifierFromWeights(w, runtime);
  const n = split.labels.length;
  const out = new Float32Array(n * w.classes);
  try {
    const chunk = 2048;
    for (let start = 0; start < n; start += chunk) {
      const m = Math.min(chunk, n - start);
      const image = new Float32Array(m * split.imageDims);
      for (let k = 0; k < m; k++) {
        const img = split.imageOf[start + k] as number;
        image.set(
          split.image.subarray(img * split.imageDims, (img + 1) * split.imageDims),
          k * split.imageDims,
        );
      }
      const text = split.text.subarray(start * split.textDims, (start + m) * split.textDims);
      out.set(await model.predict({ text, image }, m), start * w.classes);
    }
  } finally {
    await model.close();
  }
  return out;
}

/** Accuracy (arg-max) and mean cross-entropy of predicted probabilities. */
export function scoreProbs(probs: Float32Array, labels: Int32Array, classes: number): SplitScores {
  let correct = 0;
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = probs.subarray(i * classes, (i + 1) * classes);
    let arg = 0;
    for (let k = 1; k < classes; k++) if ((row[k] as number) > (row[arg] as number)) arg = k;
    if (arg === labels[i]) correct++;
    loss -= Math.log(Math.max(row[labels[i] as number] as number, 1e-12));
  }
  return { accuracy: correct / Math.max(1, labels.length), loss: loss / Math.max(1, labels.length) };
}
