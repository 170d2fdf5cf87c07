import path from 'node:path';
import ort from 'onnxruntime-node';
import type { Config, Device } from '../config.ts';
import { AppError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { createSession, type InferenceSession } from '../onnx/session.ts';
import {
  readProjection,
  weightsHash,
  type HeadKind,
  type HeadWeights,
  type ProjectionWeights,
} from './projection-weights.ts';
import type { Encoders, Projection } from './types.ts';

export {
  readProjection,
  weightsHash,
  writeProjection,
  type HeadKind,
  type HeadWeights,
  type ProjectionWeights,
  type WeightsHeader,
} from './projection-weights.ts';

/**
 * The fusion projection: two heads (text Dt -> D, image Di -> D), each standardise -> linear or
 * 2-layer ReLU MLP -> L2 normalise, run as small ONNX graphs. Weights live on disk as a JSON
 * header plus one little-endian float32 blob under DATA_DIR/projections/<profile>/.
 */

export interface InitialProjectionOptions {
  textDims: number;
  imageDims: number;
  /** @default 256 */
  dims?: number;
  /** @default 42 */
  seed?: number;
  /** @default 'mlp' */
  head?: HeadKind;
  /** @default 512 */
  hiddenDims?: number;
}

export interface ProjectionRuntime {
  device: Device;
  intraOpThreads: number;
  interOpThreads: number;
  logger: Logger;
}

export interface LoadedProjection extends Projection {
  readonly weights: ProjectionWeights;
  close(): Promise<void>;
}

export const INITIAL_LOGIT_SCALE = Math.log(1 / 0.07);
export const MAX_LOGIT_SCALE = Math.log(100);
const CPU_RUNTIME: ProjectionRuntime = {
  device: 'cpu',
  intraOpThreads: 0,
  interOpThreads: 0,
  logger: silentLogger,
};

/** Seeded random weights: He-style normal init, zero biases, identity standardisation. */
export function createInitialWeights(options: InitialProjectionOptions): ProjectionWeights {
  const { textDims, imageDims, dims = 256, seed = 42, head = 'mlp' } = options;
  const hiddenDims = head === 'mlp' ? (options.hiddenDims ?? 512) : 0;
  for (const [name, v] of Object.entries({ textDims, imageDims, dims })) {
    if (!Number.isInteger(v) || v < 1 || v > 65536)
      throw new AppError('INVALID_INPUT', `${name} must be an integer in 1..65536, got ${v}`);
  }
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

/** The untrained projection a fresh install uses before `npm run train`. */
export async function createInitialProjection(
  options: InitialProjectionOptions,
  runtime: ProjectionRuntime = CPU_RUNTIME,
): Promise<LoadedProjection> {
  const weights = createInitialWeights(options);
  return projectionFromWeights(weights, {
    fingerprint: initialFingerprint(weights, options.seed ?? 42),
    trained: false,
    runtime,
  });
}

/** `initial-<seed>-<hash>`: marks vectors made by an untrained projection. */
export function initialFingerprint(weights: ProjectionWeights, seed: number): string {
  return `initial-${seed}-${weightsHash(weights).slice(0, 12)}`;
}

/** Builds the two ORT head sessions for a set of weights. */
export async function projectionFromWeights(
  weights: ProjectionWeights,
  options: { fingerprint?: string; trained?: boolean; runtime?: ProjectionRuntime } = {},
): Promise<LoadedProjection> {
  const runtime = options.runtime ?? CPU_RUNTIME;
  const [textSession, imageSession] = await Promise.all([
    createSession(headGraph(weights, 'text'), runtime),
    createSession(headGraph(weights, 'image'), runtime),
  ]);
  const run = async (
    session: InferenceSession,
    inDims: number,
    features: Float32Array,
    n: number,
  ): Promise<Float32Array> => {
    if (!Number.isInteger(n) || n < 0 || features.length !== n * inDims) {
      throw new AppError(
        'INVALID_INPUT',
        `projection expects ${n} x ${inDims} features, got ${features.length} values`,
      );
    }
    if (n === 0) return new Float32Array(0);
    const out = await session.run({ x: new ort.Tensor('float32', features, [n, inDims]) });
    return out['z']!.data as Float32Array;
  };
  return {
    textDims: weights.textDims,
    imageDims: weights.imageDims,
    dims: weights.dims,
    fingerprint: options.fingerprint ?? `proj-${weightsHash(weights).slice(0, 16)}`,
    trained: options.trained ?? true,
    weights,
    projectText: (features, n) => run(textSession, weights.textDims, features, n),
    projectImage: (features, n) => run(imageSession, weights.imageDims, features, n),
    close: async () => {
      await Promise.all([textSession.release(), imageSession.release()]);
    },
  };
}

/** ONNX graph for one head: x -> (x - mean) * invStd -> Gemm [-> Relu -> Gemm] -> L2 normalise. */
export function headGraph(weights: ProjectionWeights, side: 'text' | 'image'): Uint8Array {
  const h = weights[side];
  const inDims = side === 'text' ? weights.textDims : weights.imageDims;
  const g = new GraphBuilder(`projection-${side}`);
  g.input('x', 'float32', ['n', inDims]);
  const mean = g.initializer('mean', [inDims], h.mean);
  const invStd = g.initializer('inv_std', [inDims], h.invStd);
  const xs = g.op('Mul', [g.op('Sub', ['x', mean]), invStd]);
  const firstOut = weights.head === 'mlp' ? weights.hiddenDims : weights.dims;
  let y = g.op('Gemm', [
    xs,
    g.initializer('w1', [inDims, firstOut], h.w1),
    g.initializer('b1', [firstOut], h.b1),
  ]);
  if (weights.head === 'mlp') {
    const hidden = g.op('Relu', [y]);
    y = g.op('Gemm', [
      hidden,
      g.initializer('w2', [weights.hiddenDims, weights.dims], h.w2!),
      g.initializer('b2', [weights.dims], h.b2!),
    ]);
  }
  g.node('Div', [y, l2Norm(g, y)], 'z');
  g.output('z', 'float32', ['n', weights.dims]);
  return g.toBytes();
}

/** sqrt(max(sum(y^2, axis 1), eps)) as [n, 1]; the eps keeps an all-zero row finite. */
export function l2Norm(g: GraphBuilder, y: string): string {
  const axes = g.constant([1], new BigInt64Array([1n]), 'axis1');
  const ss = g.op('ReduceSum', [g.op('Mul', [y, y]), axes], { keepdims: 1 });
  return g.op('Sqrt', [g.op('Max', [ss, g.constant([], new Float32Array([1e-12]), 'eps')])]);
}

/** The trained projection for the config's profile, or the seeded initial one when none (or a stale one) is on disk. */
export async function loadProjection(
  config: Config,
  encoders: Encoders,
  logger: Logger,
): Promise<LoadedProjection> {
  const runtime: ProjectionRuntime = { device: config.device, ...config.ort, logger };
  const dir = projectionDir(config);
  const stored = await readProjection(dir);
  const initial = (): Promise<LoadedProjection> =>
    createInitialProjection(
      { textDims: encoders.text.dims, imageDims: encoders.image.dims, seed: config.seed },
      runtime,
    );
  if (stored === undefined) {
    logger.info({ dir }, 'no trained projection; using the seeded initial projection (run `npm run train`)');
    return initial();
  }
  const { weights, header } = stored;
  const encodersNow = { text: encoders.text.fingerprint, image: encoders.image.fingerprint };
  const encodersThen = header.encoders;
  if (
    weights.textDims !== encoders.text.dims ||
    weights.imageDims !== encoders.image.dims ||
    (encodersThen !== undefined &&
      (encodersThen.text !== encodersNow.text || encodersThen.image !== encodersNow.image))
  ) {
    logger.warn(
      { dir, encodersNow, encodersThen },
      'the trained projection was fitted to other encoders; using the initial projection until `npm run train` runs again',
    );
    return initial();
  }
  logger.info({ dir, fingerprint: header.fingerprint }, 'loaded trained projection');
  return projectionFromWeights(weights, { fingerprint: header.fingerprint, trained: true, runtime });
}

export function projectionDir(config: Pick<Config, 'paths' | 'profile'>): string {
  return path.join(config.paths.projections, config.profile);
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
