import ort from 'onnxruntime-node';
import {
  branchesOf,
  classifierLayers,
  classifierParams,
  fusedWidth,
  type ClassifierShape,
} from '../models/classifier.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { createSession, type InferenceSession } from '../onnx/session.ts';
import type { ProjectionRuntime } from '../models/projection.ts';
import type { Params, StepResult } from './train-step.ts';

/**
 * One training step of the fusion classifier as a single ONNX graph, like the projection's
 * (step-graph.ts): forward (classifier.ts's layers), mean cross-entropy, and the hand-derived
 * backward pass. Inputs: standardised features `x.text` / `x.image`, one-hot targets `y` [B, N],
 * the dropout mask [B, W] (scaled by 1/(1-p); all ones for a validation loss) and the weights.
 *
 *   loss = -mean_b sum_k y log softmax(logits)
 *   dlogits = (softmax(logits) - y) / B       du = dlogits w3^T     dhd = du w2^T
 *   dh = dhd * mask     da = dh * Sign(h)     (h = relu(a) >= 0, so Sign(h) is ReLU')
 * `sum` fusion sends da to both branches whole; `concat` sends each branch its half.
 */
export function buildClassifierStepGraph(s: ClassifierShape): Uint8Array {
  const g = new GraphBuilder('classifier-step');
  const x: Partial<Record<'text' | 'image', string>> = {};
  for (const side of branchesOf(s.inputs))
    x[side] = g.input(`x.${side}`, 'float32', ['batch', side === 'text' ? s.textDims : s.imageDims]);
  const y = g.input('y', 'float32', ['batch', s.classes]);
  const mask = g.input('mask', 'float32', ['batch', fusedWidth(s)]);
  const params = classifierParams(s);
  for (const [name, dims] of params) g.input(name, 'float32', dims);
  const f = classifierLayers(g, s, x, (name) => name, mask);

  const axis0 = g.constant([1], new BigInt64Array([0n]), 'axis0');
  const axis1 = g.constant([1], new BigInt64Array([1n]), 'axis1');
  const logProbs = g.op('LogSoftmax', [f.logits], { axis: 1 });
  const perRow = g.op('ReduceSum', [g.op('Mul', [y, logProbs]), axis1], { keepdims: 0 });
  g.node('Neg', [g.op('ReduceMean', [perRow], { keepdims: 0 })], 'loss');

  // Each target row sums to 1, so the batch size is the sum of the targets.
  const batch = g.op('ReduceSum', [y], { keepdims: 0 });
  const dLogits = g.op('Div', [g.op('Sub', [g.op('Softmax', [f.logits], { axis: 1 }), y]), batch]);
  g.node('Gemm', [f.u, dLogits], 'grad.out.w3', { transA: 1 });
  g.node('ReduceSum', [dLogits, axis0], 'grad.out.b3', { keepdims: 0 });
  const du = g.op('Gemm', [dLogits, 'out.w3'], { transB: 1 });
  g.node('Gemm', [f.hd, du], 'grad.hidden.w2', { transA: 1 });
  g.node('ReduceSum', [du, axis0], 'grad.hidden.b2', { keepdims: 0 });
  const dhd = g.op('Gemm', [du, 'hidden.w2'], { transB: 1 });
  const da = g.op('Mul', [g.op('Mul', [dhd, mask]), g.op('Sign', [f.h])]);
  const sides = branchesOf(s.inputs);
  sides.forEach((side, i) => {
    const part =
      s.fusion === 'concat' && sides.length === 2
        ? g.op('Slice', [
            da,
            g.constant([1], new BigInt64Array([BigInt(i * s.hiddenDims)])),
            g.constant([1], new BigInt64Array([BigInt((i + 1) * s.hiddenDims)])),
            axis1,
          ])
        : da;
    g.node('Gemm', [x[side] as string, part], `grad.${side}.w1`, { transA: 1 });
    g.node('ReduceSum', [part, axis0], `grad.${side}.b1`, { keepdims: 0 });
  });

  g.output('loss', 'float32', []);
  for (const [name, dims] of params) g.output(`grad.${name}`, 'float32', dims);
  return g.toBytes();
}

/** An ORT session over the classifier's training-step graph. */
export class ClassifierStep {
  readonly params: readonly [string, number[]][];
  private constructor(
    private readonly session: InferenceSession,
    private readonly shape: ClassifierShape,
  ) {
    this.params = classifierParams(shape);
  }

  static async create(shape: ClassifierShape, runtime: ProjectionRuntime): Promise<ClassifierStep> {
    const session = await createSession(buildClassifierStepGraph(shape), { ...runtime, spinning: false });
    return new ClassifierStep(session, shape);
  }

  /** Row b of each feature matrix, `targets` and `mask` is one example. */
  async run(
    features: Partial<Record<'text' | 'image', Float32Array>>,
    targets: Float32Array,
    mask: Float32Array,
    batch: number,
    params: Params,
  ): Promise<StepResult> {
    const s = this.shape;
    const feeds: Record<string, ort.Tensor> = {
      y: new ort.Tensor('float32', targets, [batch, s.classes]),
      mask: new ort.Tensor('float32', mask, [batch, fusedWidth(s)]),
    };
    for (const side of branchesOf(s.inputs))
      feeds[`x.${side}`] = new ort.Tensor('float32', features[side] as Float32Array, [
        batch,
        side === 'text' ? s.textDims : s.imageDims,
      ]);
    for (const [name, dims] of this.params) {
      const value = params.get(name);
      if (value === undefined) throw new Error(`missing parameter ${name}`);
      feeds[name] = new ort.Tensor('float32', value, dims);
    }
    const out = await this.session.run(feeds);
    const grads: Params = new Map();
    for (const [name] of this.params) grads.set(name, out[`grad.${name}`]!.data as Float32Array);
    return { loss: (out['loss']!.data as Float32Array)[0]!, grads };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
