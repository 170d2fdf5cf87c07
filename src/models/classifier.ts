import ort from 'onnxruntime-node';
import { AppError } from '../errors.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { createSession } from '../onnx/session.ts';
import type { ProjectionRuntime } from './projection.ts';

/**
 * The fusion classifier of the seed's worked example, on frozen encoder features:
 *   text features -> Linear(Dt, H) ┐
 *                                  ├ fuse -> ReLU -> dropout -> Linear(W, H) -> Linear(H, N) -> logits
 *   image features -> Linear(Di, H)┘
 * `sum` fusion adds the two projections (W = H), as the seed does; `concat` places them side by
 * side (W = 2H). With concat the ReLU acts on each side alone and everything after it is linear,
 * so the logits are f(text) + g(image): no term can depend on both, which is what matching needs.
 * `inputs: 'text' | 'image'` keeps one branch: the single-modality baselines.
 * Inputs are standardised per feature first (statistics of the training split), as the projection's are.
 */

export type Fusion = 'sum' | 'concat';
export type ClassifierInputs = 'both' | 'text' | 'image';

export interface ClassifierShape {
  fusion: Fusion;
  inputs: ClassifierInputs;
  textDims: number;
  imageDims: number;
  hiddenDims: number;
  classes: number;
}

export interface ClassifierWeights extends ClassifierShape {
  labels: string[];
  /**
   * By name: `text.mean`, `text.invStd`, `text.w1` [Dt, H], `text.b1`, the same for `image`,
   * `hidden.w2` [W, H], `hidden.b2`, `out.w3` [H, N], `out.b3`.
   */
  tensors: Record<string, Float32Array>;
}

/** Dropout before the hidden layer, as in the seed. */
export const CLASSIFIER_DROPOUT = 0.1;

export function branchesOf(inputs: ClassifierInputs): ('text' | 'image')[] {
  return inputs === 'both' ? ['text', 'image'] : [inputs];
}

/** Width after fusion: H, or 2H when two branches are concatenated. */
export function fusedWidth(s: ClassifierShape): number {
  return s.fusion === 'concat' && s.inputs === 'both' ? 2 * s.hiddenDims : s.hiddenDims;
}

/** The trainable tensors and their shapes, in graph order (standardisation excluded). */
export function classifierParams(s: ClassifierShape): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (const side of branchesOf(s.inputs)) {
    out.push([`${side}.w1`, [side === 'text' ? s.textDims : s.imageDims, s.hiddenDims]]);
    out.push([`${side}.b1`, [s.hiddenDims]]);
  }
  out.push(['hidden.w2', [fusedWidth(s), s.hiddenDims]], ['hidden.b2', [s.hiddenDims]]);
  out.push(['out.w3', [s.hiddenDims, s.classes]], ['out.b3', [s.classes]]);
  return out;
}

/**
 * The layers after standardisation, shared by inference (weights as initializers) and the
 * training step (weights as inputs), so the two graphs cannot drift apart. `mask` (training only)
 * is the dropout mask, already scaled by 1/(1-p). Returns every intermediate the backward pass needs.
 */
export function classifierLayers(
  g: GraphBuilder,
  s: ClassifierShape,
  x: Partial<Record<'text' | 'image', string>>,
  p: (name: string) => string,
  mask?: string,
): { pre: string[]; h: string; hd: string; u: string; logits: string } {
  const pre = branchesOf(s.inputs).map((side) =>
    g.op('Gemm', [x[side] as string, p(`${side}.w1`), p(`${side}.b1`)]),
  );
  const fused =
    pre.length === 1
      ? (pre[0] as string)
      : s.fusion === 'sum'
        ? g.op('Add', pre)
        : g.op('Concat', pre, { axis: 1 });
  const h = g.op('Relu', [fused]);
  const hd = mask === undefined ? h : g.op('Mul', [h, mask]);
  const u = g.op('Gemm', [hd, p('hidden.w2'), p('hidden.b2')]);
  const logits = g.op('Gemm', [u, p('out.w3'), p('out.b3')]);
  return { pre, h, hd, u, logits };
}

/** Inference graph: raw features in, class probabilities `probs` [n, N] out. */
export function classifierGraph(w: ClassifierWeights): Uint8Array {
  const g = new GraphBuilder(`classifier-${w.fusion}-${w.inputs}`);
  const x: Partial<Record<'text' | 'image', string>> = {};
  for (const side of branchesOf(w.inputs)) {
    const dims = side === 'text' ? w.textDims : w.imageDims;
    g.input(`x.${side}`, 'float32', ['n', dims]);
    const mean = g.initializer(`${side}.mean`, [dims], tensor(w, `${side}.mean`));
    const invStd = g.initializer(`${side}.invStd`, [dims], tensor(w, `${side}.invStd`));
    x[side] = g.op('Mul', [g.op('Sub', [`x.${side}`, mean]), invStd]);
  }
  const names = new Map<string, string>();
  for (const [name, dims] of classifierParams(w)) names.set(name, g.initializer(name, dims, tensor(w, name)));
  const { logits } = classifierLayers(g, w, x, (name) => names.get(name) as string);
  g.node('Softmax', [logits], 'probs', { axis: 1 });
  g.output('probs', 'float32', ['n', w.classes]);
  return g.toBytes();
}

export interface LoadedClassifier {
  readonly weights: ClassifierWeights;
  /** Class probabilities, [n, N] row-major; features are [n, Dt] and [n, Di] (only the branches used). */
  predict(features: { text?: Float32Array; image?: Float32Array }, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export async function classifierFromWeights(
  w: ClassifierWeights,
  runtime: ProjectionRuntime,
): Promise<LoadedClassifier> {
  // Runs beside the encoders: no worker threads left spinning after its tiny graph (see projection.ts).
  const session = await createSession(classifierGraph(w), { ...runtime, spinning: false });
  return {
    weights: w,
    async predict(features, n) {
      if (n === 0) return new Float32Array(0);
      const feeds: Record<string, ort.Tensor> = {};
      for (const side of branchesOf(w.inputs)) {
        const dims = side === 'text' ? w.textDims : w.imageDims;
        const data = features[side];
        if (data === undefined || data.length !== n * dims)
          throw new AppError(
            'INVALID_INPUT',
            `the classifier expects ${n} x ${dims} ${side} features, got ${data?.length ?? 0} values`,
          );
        feeds[`x.${side}`] = new ort.Tensor('float32', data, [n, dims]);
      }
      const out = await session.run(feeds);
      return out['probs']!.data as Float32Array;
    },
    close: () => session.release(),
  };
}

function tensor(w: ClassifierWeights, name: string): Float32Array {
  const t = w.tensors[name];
  if (t === undefined) throw new AppError('MODEL_INVALID', `the classifier has no tensor ${name}`);
  return t;
}
