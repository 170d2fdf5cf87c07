import path from 'node:path';
import ort from 'onnxruntime-node';
import type { Config, Device } from '../config.ts';
import { AppError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { createSession, type InferenceSession } from '../onnx/session.ts';
import { weightsHash, type ProjectionWeights, type WeightsHeader } from './projection-weights.ts';
import { readProjection } from './projection-store.ts';
import {
  createInitialWeights,
  initialFingerprint,
  startOf,
  type InitialProjectionOptions,
} from './projection-init.ts';
import type { Encoders, Projection } from './types.ts';

export {
  activeProjectionDir,
  commitProjection,
  readProjection,
  writeProjection,
  type CommitResult,
} from './projection-store.ts';
export {
  projectionFingerprint,
  weightsHash,
  type HeadKind,
  type HeadWeights,
  type ProjectionWeights,
  type WeightsHeader,
} from './projection-weights.ts';
export {
  createInitialWeights,
  initialFingerprint,
  INITIAL_LOGIT_SCALE,
  MAX_LOGIT_SCALE,
  startOf,
  type InitialProjectionOptions,
  type ProjectionStart,
} from './projection-init.ts';

/**
 * The fusion projection: two heads (text Dt -> D, image Di -> D), each standardise -> linear or
 * 2-layer ReLU MLP -> L2 normalise, run as small ONNX graphs. Weights live on disk as a JSON
 * header plus one little-endian float32 blob under DATA_DIR/projections/<profile>/.
 */

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

const CPU_RUNTIME: ProjectionRuntime = {
  device: 'cpu',
  intraOpThreads: 0,
  interOpThreads: 0,
  logger: silentLogger,
};

/**
 * The untrained projection a fresh install uses before `npm run train`: the identity for a
 * pre-aligned profile (zero-shot), seeded random weights otherwise (projection-init.ts).
 */
export async function createInitialProjection(
  options: InitialProjectionOptions,
  runtime: ProjectionRuntime = CPU_RUNTIME,
): Promise<LoadedProjection> {
  const weights = createInitialWeights(options);
  return projectionFromWeights(weights, {
    fingerprint: initialFingerprint(weights, options.seed ?? 42, options.start ?? 'random'),
    trained: false,
    runtime,
  });
}

/** Builds the two ORT head sessions for a set of weights. */
export async function projectionFromWeights(
  weights: ProjectionWeights,
  options: { fingerprint?: string; trained?: boolean; runtime?: ProjectionRuntime } = {},
): Promise<LoadedProjection> {
  // The heads run between encoder runs: worker threads left spinning after a head's few
  // microseconds of work take the cores from the next encoder run (bench:encoders, base-size
  // stand-ins on 2 cores, batch 1, full path over bare ORT: images 0.69-0.72 -> 0.83-0.89,
  // captions 0.71-0.82 -> 0.88-0.95).
  const sessionOptions = { ...(options.runtime ?? CPU_RUNTIME), spinning: false };
  const [textSession, imageSession] = await Promise.all([
    createSession(headGraph(weights, 'text'), sessionOptions),
    createSession(headGraph(weights, 'image'), sessionOptions),
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
  const { y } = headLayers(g, xs, {
    w1: g.initializer('w1', [inDims, firstOut], h.w1),
    b1: g.initializer('b1', [firstOut], h.b1),
    ...(weights.head === 'mlp'
      ? {
          w2: g.initializer('w2', [weights.hiddenDims, weights.dims], h.w2!),
          b2: g.initializer('b2', [weights.dims], h.b2!),
        }
      : {}),
  });
  g.node('Div', [y, l2Norm(g, y)], 'z');
  g.output('z', 'float32', ['n', weights.dims]);
  return g.toBytes();
}

/**
 * The head's layers after standardisation: Gemm, or Gemm -> Relu -> Gemm when `w2` is given.
 * Inference (weights as initializers) and the training step (weights as inputs) both build
 * their heads with this, so the two graphs cannot drift apart. Returns the pre-activation `a`,
 * the hidden `h` (MLP only) and the output `y` (before L2 normalisation).
 */
export function headLayers(
  g: GraphBuilder,
  x: string,
  p: { w1: string; b1: string; w2?: string; b2?: string },
): { a: string; h?: string; y: string } {
  const a = g.op('Gemm', [x, p.w1, p.b1]);
  if (p.w2 === undefined || p.b2 === undefined) return { a, y: a };
  const h = g.op('Relu', [a]);
  return { a, h, y: g.op('Gemm', [h, p.w2, p.b2]) };
}

/** sqrt(max(sum(y^2, axis 1), eps)) as [n, 1]; the eps keeps an all-zero row finite. */
export function l2Norm(g: GraphBuilder, y: string): string {
  const axes = g.constant([1], new BigInt64Array([1n]), 'axis1');
  const ss = g.op('ReduceSum', [g.op('Mul', [y, y]), axes], { keepdims: 1 });
  return g.op('Sqrt', [g.op('Max', [ss, g.constant([], new Float32Array([1e-12]), 'eps')])]);
}

/**
 * Why a stored projection does not fit these encoders (other input widths, or fitted to other
 * encoder fingerprints), or undefined when it fits. The engine (loadProjection) and `eval` both
 * apply it, so eval never scores a projection the engine would refuse.
 */
export function projectionMismatch(
  stored: { weights: ProjectionWeights; header: WeightsHeader },
  encoders: Pick<Encoders, 'text' | 'image'>,
):
  | {
      reason: string;
      encodersNow: { text: string; image: string };
      encodersThen?: { text: string; image: string };
    }
  | undefined {
  const { weights, header } = stored;
  const encodersNow = { text: encoders.text.fingerprint, image: encoders.image.fingerprint };
  const encodersThen = header.encoders;
  if (weights.textDims !== encoders.text.dims || weights.imageDims !== encoders.image.dims)
    return {
      reason: `it maps ${weights.textDims} / ${weights.imageDims}-d features, the encoders give ${encoders.text.dims} / ${encoders.image.dims}`,
      encodersNow,
      ...(encodersThen ? { encodersThen } : {}),
    };
  if (
    encodersThen !== undefined &&
    (encodersThen.text !== encodersNow.text || encodersThen.image !== encodersNow.image)
  )
    return { reason: 'it was fitted to other encoders', encodersNow, encodersThen };
  return undefined;
}

/**
 * The trained projection for the config's profile, or the initial one when none (or a stale one)
 * is on disk: the identity for a pre-aligned profile (zero-shot search), seeded random otherwise.
 */
export async function loadProjection(
  config: Config,
  encoders: Encoders,
  logger: Logger,
): Promise<LoadedProjection> {
  const runtime: ProjectionRuntime = { device: config.device, ...config.ort, logger };
  const dir = projectionDir(config);
  const stored = await readProjection(dir);
  const start = startOf(config.profile);
  const initial = (): Promise<LoadedProjection> =>
    createInitialProjection(
      { textDims: encoders.text.dims, imageDims: encoders.image.dims, seed: config.seed, start },
      runtime,
    );
  if (stored === undefined) {
    logger.info(
      { dir, start },
      start === 'identity'
        ? 'no fine-tuned projection; using the identity (the encoders are pre-aligned: zero-shot search)'
        : 'no trained projection; using the seeded initial projection (run `npm run train`)',
    );
    return initial();
  }
  const { weights, header } = stored;
  const mismatch = projectionMismatch(stored, encoders);
  if (mismatch !== undefined) {
    logger.warn(
      { dir, ...mismatch },
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
