import {
  MAX_LOGIT_SCALE,
  projectionFromWeights,
  type HeadKind,
  type ProjectionRuntime,
  type ProjectionStart,
  type ProjectionWeights,
} from '../models/projection.ts';
import { standardiseRows, trainingWeights } from '../models/projection-init.ts';
import { AppError } from '../errors.ts';
import { retrievalScores, type RetrievalScores } from './metrics.ts';
import {
  MIN_RANKING_IMAGES,
  stoppingCriterion,
  validationLoss,
  type StoppingCriterion,
} from './early-stopping.ts';
import { assertFiniteFeatures, assertFiniteWeights, checkFitOptions } from './fit-options.ts';
import { AdamW, learningRate } from './optimizer.ts';
import { createRng, deriveSeed } from './rng.ts';
import type { FeatureSubset } from './subset.ts';
import { TrainStep } from './train-step.ts';
import { paramsFromWeights, weightsWithParams } from './trainer-params.ts';

export interface FitOptions {
  /**
   * Where training starts (projection-init.ts): `identity` fine-tunes a pre-aligned profile's
   * zero-shot space (linear head of the encoders' width; `dims`, `head`, `hiddenDims` do not apply).
   * @default 'random'
   */
  start?: ProjectionStart;
  /** @default 30 */
  epochs?: number;
  /** Shared-space size. @default 256 */
  dims?: number;
  /** @default 'mlp' */
  head?: HeadKind;
  /** @default 512 */
  hiddenDims?: number;
  /** Pairs per step. @default 256 */
  batchSize?: number;
  /** Peak learning rate. @default 0.002, or 0.0001 from an identity start */
  lr?: number;
  /** @default 0.05 */
  weightDecay?: number;
  /** Share of all steps spent warming up. @default 0.05 */
  warmup?: number;
  /** Epochs without a better validation score before stopping. @default 6 */
  patience?: number;
  /** @default 42 */
  seed?: number;
  /** Starting temperature (learned from there, kept within [1/100, 1]). @default 0.07 */
  temperature?: number;
}

export const FIT_DEFAULTS = {
  epochs: 30,
  dims: 256,
  head: 'mlp' as HeadKind,
  hiddenDims: 512,
  batchSize: 256,
  lr: 0.002,
  /**
   * From an identity start Adam's per-weight steps of ~lr would swamp the zero off-diagonals of
   * I within a few hundred steps; a fine-tune wants small moves.
   */
  alignedLr: 0.0001,
  weightDecay: 0.05,
  warmup: 0.05,
  patience: 6,
  seed: 42,
};

/**
 * ORT splits Gemm and reductions across its intra-op threads, and float sums in another order
 * round differently: the same seed gave another projection fingerprint at 8 threads than at 0-3.
 * Training therefore runs at a fixed thread count, whatever the host has or ORT_INTRA_THREADS says,
 * so a seed and data set give one fingerprint on any CPU host. 4 keeps most of the speed of a
 * larger pool at these matrix sizes; a GPU runtime is left as it is.
 */
export const TRAINING_INTRA_OP_THREADS = 4;

export function trainingRuntime(runtime: ProjectionRuntime): ProjectionRuntime {
  return runtime.device === 'cpu' || runtime.device === 'auto'
    ? { ...runtime, intraOpThreads: TRAINING_INTRA_OP_THREADS, interOpThreads: 1 }
    : runtime;
}

export interface StepEvent {
  epoch: number;
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  temperature: number;
  pairsPerSecond: number;
}

export interface EpochEvent {
  epoch: number;
  loss: number;
  /** The validation retrieval score (criterion `retrieval`). */
  valScore: number | undefined;
  /** The validation InfoNCE loss (criterion `val-loss`). */
  valLoss?: number;
  best: boolean;
}

export interface FitResult {
  weights: ProjectionWeights;
  epochsRun: number;
  bestEpoch: number;
  /** What ranked the epochs for early stopping and the kept weights (early-stopping.ts). */
  criterion: StoppingCriterion;
  validation: RetrievalScores | undefined;
  pairsPerSecond: number;
  seconds: number;
}

/**
 * Trains both heads on cached features with symmetric InfoNCE: each epoch visits every training
 * image once, paired with one of its captions drawn at random (so an image never meets itself as
 * a negative in a batch). The ORT step graph gives loss and gradients; AdamW updates in place.
 */
export async function fitProjection(
  train: FeatureSubset,
  val: FeatureSubset | undefined,
  options: FitOptions,
  hostRuntime: ProjectionRuntime,
  hooks: { onStep?: (e: StepEvent) => void; onEpoch?: (e: EpochEvent) => void } = {},
): Promise<FitResult> {
  const runtime = trainingRuntime(hostRuntime);
  checkFitOptions({ ...options });
  const { epochs, dims, head, hiddenDims, weightDecay, warmup, patience, seed } = {
    ...FIT_DEFAULTS,
    ...definedOnly(options),
  };
  const start = options.start ?? 'random';
  const lr = options.lr ?? (start === 'identity' ? FIT_DEFAULTS.alignedLr : FIT_DEFAULTS.lr);
  const n = train.imageCaptions.length;
  const batch = Math.min(options.batchSize ?? FIT_DEFAULTS.batchSize, n);
  if (batch < 2) throw new AppError('INVALID_INPUT', `training needs at least 2 paired images, got ${n}`);
  assertFiniteFeatures('training text', train.text, train.textDims);
  assertFiniteFeatures('training image', train.image, train.imageDims);
  if (val !== undefined) {
    assertFiniteFeatures('validation text', val.text, val.textDims);
    assertFiniteFeatures('validation image', val.image, val.imageDims);
  }

  const weights = trainingWeights(
    { textDims: train.textDims, imageDims: train.imageDims, start, dims, seed, head, hiddenDims },
    train,
  );
  const xt = standardiseRows(train.text, weights.text);
  const xi = standardiseRows(train.image, weights.image);

  if (options.temperature !== undefined)
    weights.logitScale = Math.min(MAX_LOGIT_SCALE, Math.max(0, -Math.log(options.temperature)));
  const params = paramsFromWeights(weights);
  const step = await TrainStep.create(
    {
      head: weights.head,
      textDims: train.textDims,
      imageDims: train.imageDims,
      hiddenDims: weights.hiddenDims,
      dims: weights.dims,
    },
    runtime,
  );
  // The params share the weights' arrays, which the optimiser updates in place: anchor on copies.
  const anchors =
    start === 'identity'
      ? new Map([...params].map(([name, value]) => [name, value.slice()] as const))
      : undefined;
  const optimizer = new AdamW({ weightDecay, ...(anchors ? { anchors } : {}) });
  const rng = createRng(deriveSeed(seed, 'batches'));
  const stepsPerEpoch = Math.floor(n / batch);
  const totalSteps = stepsPerEpoch * epochs;
  const warmupSteps = Math.max(1, Math.round(totalSteps * warmup));
  const bt = new Float32Array(batch * train.textDims);
  const bi = new Float32Array(batch * train.imageDims);
  const order = Array.from({ length: n }, (_, i) => i);
  const criterion = stoppingCriterion(val);
  if (criterion === 'val-loss')
    runtime.logger.warn(
      { valImages: val?.imageCaptions.length, minimum: MIN_RANKING_IMAGES },
      'the validation split is too small to rank epochs by retrieval; early stopping uses the validation loss',
    );
  const valLossOf = criterion === 'val-loss' && val !== undefined ? validationLoss(val, weights) : undefined;

  let best:
    | { score: number; epoch: number; weights: ProjectionWeights; scores: RetrievalScores | undefined }
    | undefined;
  let globalStep = 0;
  let trainSeconds = 0;
  let steadySeconds = 0;
  let epoch = 0;
  try {
    for (epoch = 1; epoch <= epochs; epoch++) {
      rng.shuffle(order);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const started = performance.now();
        for (let k = 0; k < batch; k++) {
          const img = order[s * batch + k] as number;
          const captions = train.imageCaptions[img] as number[];
          const c = captions[rng.int(captions.length)] as number;
          bt.set(xt.subarray(c * train.textDims, (c + 1) * train.textDims), k * train.textDims);
          bi.set(xi.subarray(img * train.imageDims, (img + 1) * train.imageDims), k * train.imageDims);
        }
        const { loss, grads } = await step.run(bt, bi, batch, params);
        if (!Number.isFinite(loss))
          throw new AppError(
            'TRAINING_DIVERGED',
            `training diverged at step ${globalStep} (loss ${loss}); lower --lr`,
          );
        const rate = learningRate(globalStep, totalSteps, lr, warmupSteps);
        optimizer.step(params, grads, rate);
        const scale = params.get('logitScale') as Float32Array;
        scale[0] = Math.min(MAX_LOGIT_SCALE, Math.max(0, scale[0] as number));
        const seconds = (performance.now() - started) / 1000;
        trainSeconds += seconds;
        // The first run of a session pays for memory planning; pairs/s reports the steady state.
        if (globalStep > 0) steadySeconds += seconds;
        lossSum += loss;
        globalStep++;
        hooks.onStep?.({
          epoch,
          step: globalStep,
          totalSteps,
          loss,
          lr: rate,
          temperature: Math.exp(-(scale[0] as number)),
          pairsPerSecond: steadyRate(globalStep, batch, steadySeconds, trainSeconds),
        });
      }
      const current = weightsWithParams(weights, params);
      // A finite loss does not prove finite weights: the heads L2-normalise, so runaway weights
      // can still give a loss; checked per epoch so that no diverged epoch can become `best`.
      assertFiniteWeights(current, `in epoch ${epoch}`);
      const scores =
        criterion === 'retrieval' && val !== undefined
          ? await scoreSubset(current, val, runtime, { detail: false })
          : undefined;
      const valLoss = valLossOf === undefined ? undefined : await valLossOf(step, params);
      // Higher is better: the retrieval score, else the negated (validation or training) loss.
      const score = scores !== undefined ? validationScore(scores) : -(valLoss ?? lossSum / stepsPerEpoch);
      const improved = best === undefined || score > best.score;
      if (improved) best = { score, epoch, weights: current, scores };
      hooks.onEpoch?.({
        epoch,
        loss: lossSum / stepsPerEpoch,
        valScore: scores === undefined ? undefined : score,
        ...(valLoss !== undefined ? { valLoss } : {}),
        best: improved,
      });
      if (best !== undefined && epoch - best.epoch >= patience) break;
    }
  } finally {
    await step.close();
  }
  const chosen = best as NonNullable<typeof best>;
  return {
    weights: chosen.weights,
    epochsRun: Math.min(epoch, epochs),
    bestEpoch: chosen.epoch,
    criterion,
    // The per-epoch check skips the per-attribute table; the card gets the full one for the kept
    // epoch, also when a small split only chose it by loss (its scores are then shown, not ranked).
    validation:
      criterion === 'train-loss' || val === undefined
        ? undefined
        : await scoreSubset(chosen.weights, val, runtime),
    pairsPerSecond: steadyRate(globalStep, batch, steadySeconds, trainSeconds),
    seconds: trainSeconds,
  };
}

/** Attribute P@10 when the data has attributes (the synthetic target), else the mean of the six recalls. */
export function validationScore(s: RetrievalScores): number {
  if (s.t2i.p10 !== undefined && s.i2t.p10 !== undefined) return (s.t2i.p10 + s.i2t.p10) / 2;
  return (s.t2i.r1 + s.t2i.r5 + s.t2i.r10 + s.i2t.r1 + s.i2t.r5 + s.i2t.r10) / 6;
}

export async function scoreSubset(
  weights: ProjectionWeights,
  subset: FeatureSubset,
  runtime: ProjectionRuntime,
  options: { fingerprint?: string; detail?: boolean } = {},
): Promise<RetrievalScores> {
  const projection = await projectionFromWeights(weights, {
    runtime,
    ...(options.fingerprint ? { fingerprint: options.fingerprint } : {}),
  });
  try {
    const textVectors = await projection.projectText(subset.text, subset.captionImage.length);
    const imageVectors = await projection.projectImage(subset.image, subset.imageCaptions.length);
    return retrievalScores(
      {
        textVectors,
        imageVectors,
        dims: weights.dims,
        captionImage: subset.captionImage,
        ...(subset.scenes && subset.named ? { scenes: subset.scenes, named: subset.named } : {}),
      },
      { detail: options.detail ?? true },
    );
  } finally {
    await projection.close();
  }
}

function steadyRate(steps: number, batch: number, steadySeconds: number, allSeconds: number): number {
  return steps > 1
    ? ((steps - 1) * batch) / Math.max(steadySeconds, 1e-9)
    : batch / Math.max(allSeconds, 1e-9);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
