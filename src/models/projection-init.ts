import type { Profile } from '../config.ts';
import { AppError } from '../errors.ts';
import { PROFILES } from './profiles.ts';
import {
  weightsHash,
  type HeadKind,
  type HeadWeights,
  type ProjectionWeights,
} from './projection-weights.ts';

/**
 * Where a projection starts: the one place that decides the untrained weights, their
 * standardisation and their fingerprint. Inference (`loadProjection`, the fallback when nothing is
 * trained), the trainer (the step graph's starting parameters and the JS standardisation of its
 * inputs) and `npm run eval` (the untrained / zero-shot row) all call these functions.
 *
 * - `random`: seeded He-style weights and per-column standardisation fitted on the training set.
 *   For encoders whose spaces are unrelated (tiny, bert-resnet).
 * - `identity`: for pre-aligned encoders (CLIP). A linear head with W = I and b = 0, and no
 *   standardisation, so the projection is x / |x| and rankings are the encoders' own cosine
 *   rankings (zero-shot). Training starts there and its weight decay pulls back towards I (a
 *   residual head, W = I + delta, with the decay on delta), so fine-tuning stays near zero-shot.
 */
export type ProjectionStart = 'identity' | 'random';

export interface InitialProjectionOptions {
  textDims: number;
  imageDims: number;
  /** @default 'random' */
  start?: ProjectionStart;
  /** Shared-space size; an identity start always uses the encoders' width. @default 256 */
  dims?: number;
  /** Only used by a random start. @default 42 */
  seed?: number;
  /** An identity start is always linear. @default 'mlp' */
  head?: HeadKind;
  /** @default 512 */
  hiddenDims?: number;
}

export const INITIAL_LOGIT_SCALE = Math.log(1 / 0.07);
export const MAX_LOGIT_SCALE = Math.log(100);

/** A profile's start: identity for pre-aligned encoders, random otherwise. */
export function startOf(profile: Profile): ProjectionStart {
  return PROFILES[profile].aligned ? 'identity' : 'random';
}

/** The untrained weights for a start; standardisation is 0 / 1 (see `trainingWeights`). */
export function createInitialWeights(options: InitialProjectionOptions): ProjectionWeights {
  const { textDims, imageDims, dims = 256 } = options;
  for (const [name, v] of Object.entries({ textDims, imageDims, dims })) {
    if (!Number.isInteger(v) || v < 1 || v > 65536)
      throw new AppError('INVALID_INPUT', `${name} must be an integer in 1..65536, got ${v}`);
  }
  return options.start === 'identity' ? identityWeights(textDims, imageDims) : randomWeights(options);
}

/**
 * The fingerprint of untrained weights: `identity-<hash>` (independent of SEED, so changing the
 * seed never invalidates a zero-shot index) or `initial-<seed>-<hash>`. Trained weights are
 * `proj-<hash>` (projection-weights.ts), so identity, random and trained never share an id.
 */
export function initialFingerprint(weights: ProjectionWeights, seed: number, start: ProjectionStart): string {
  const hash = weightsHash(weights).slice(0, 12);
  return start === 'identity' ? `identity-${hash}` : `initial-${seed}-${hash}`;
}

/**
 * The trainer's starting weights: the initial ones, plus per-column standardisation fitted on the
 * training features for a random start. An identity start keeps 0 / 1: rescaling CLIP's axes
 * would change its cosine geometry and lose the zero-shot alignment it starts from.
 */
export function trainingWeights(
  options: InitialProjectionOptions,
  train: { text: Float32Array; image: Float32Array },
): ProjectionWeights {
  const weights = createInitialWeights(options);
  if (options.start !== 'identity') {
    Object.assign(weights.text, standardisation(train.text, weights.textDims));
    Object.assign(weights.image, standardisation(train.image, weights.imageDims));
  }
  return weights;
}

/** (x - mean) * invStd per row: the JS twin of the first step of `headGraph`, for the trainer's inputs. */
export function standardiseRows(x: Float32Array, head: Pick<HeadWeights, 'mean' | 'invStd'>): Float32Array {
  const { mean, invStd } = head;
  const dims = mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++)
    out[i] = ((x[i] as number) - (mean[i % dims] as number)) * (invStd[i % dims] as number);
  return out;
}

/** Per-column mean and 1/std over the rows; a small floor keeps near-constant columns from exploding. */
export function standardisation(x: Float32Array, dims: number): { mean: Float32Array; invStd: Float32Array } {
  const n = x.length / dims;
  const mean = new Float64Array(dims);
  const sq = new Float64Array(dims);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < dims; j++) {
      const v = x[r * dims + j] as number;
      mean[j]! += v;
      sq[j]! += v * v;
    }
  }
  const variance = new Float64Array(dims);
  let meanVariance = 0;
  for (let j = 0; j < dims; j++) {
    mean[j]! /= Math.max(1, n);
    variance[j] = Math.max(0, (sq[j] as number) / Math.max(1, n) - (mean[j] as number) ** 2);
    meanVariance += (variance[j] as number) / dims;
  }
  const floor = 0.01 * meanVariance + 1e-12;
  return {
    mean: Float32Array.from(mean),
    invStd: Float32Array.from(variance, (v) => 1 / Math.sqrt(v + floor)),
  };
}

function identityWeights(textDims: number, imageDims: number): ProjectionWeights {
  if (textDims !== imageDims) {
    throw new AppError(
      'MODEL_INVALID',
      `a pre-aligned profile needs text and image features of one width, got ${textDims}-d text and ${imageDims}-d image features`,
    );
  }
  const dims = textDims;
  const head = (): HeadWeights => {
    const w1 = new Float32Array(dims * dims);
    for (let i = 0; i < dims; i++) w1[i * dims + i] = 1;
    return {
      mean: new Float32Array(dims),
      invStd: new Float32Array(dims).fill(1),
      w1,
      b1: new Float32Array(dims),
    };
  };
  return {
    head: 'linear',
    textDims,
    imageDims,
    dims,
    hiddenDims: 0,
    logitScale: INITIAL_LOGIT_SCALE,
    text: head(),
    image: head(),
  };
}

/** Seeded random weights: He-style normal init, zero biases, identity standardisation. */
function randomWeights(options: InitialProjectionOptions): ProjectionWeights {
  const { textDims, imageDims, dims = 256, seed = 42, head = 'mlp' } = options;
  const hiddenDims = head === 'mlp' ? (options.hiddenDims ?? 512) : 0;
  const random = normalStream(seed);
  const dense = (rows: number, cols: number, gain: number): Float32Array => {
    const out = new Float32Array(rows * cols);
    const std = Math.sqrt(gain / rows);
    for (let i = 0; i < out.length; i++) out[i] = random() * std;
    return out;
  };
  const makeHead = (inDims: number): HeadWeights => {
    const base = { mean: new Float32Array(inDims), invStd: new Float32Array(inDims).fill(1) };
    if (head === 'linear') return { ...base, w1: dense(inDims, dims, 1), b1: new Float32Array(dims) };
    return {
      ...base,
      w1: dense(inDims, hiddenDims, 2),
      b1: new Float32Array(hiddenDims),
      w2: dense(hiddenDims, dims, 1),
      b2: new Float32Array(dims),
    };
  };
  return {
    head,
    textDims,
    imageDims,
    dims,
    hiddenDims,
    logitScale: INITIAL_LOGIT_SCALE,
    text: makeHead(textDims),
    image: makeHead(imageDims),
  };
}

function normalStream(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(Math.max(uniform(), 1e-12))) * Math.cos(2 * Math.PI * uniform());
}
