import { GraphBuilder } from '../onnx/graph-builder.ts';
import { MAX_LOGIT_SCALE, headLayers, l2Norm, type HeadKind } from '../models/projection.ts';

/**
 * One training step of the fusion projection as a single ONNX graph: forward through both heads,
 * the symmetric InfoNCE loss, and the hand-derived backward pass, so every matrix product runs
 * inside onnxruntime. Inputs: a batch of (already standardised) paired features, the current
 * weights and the logit scale. Outputs: `loss` and `grad.<param>` for every parameter.
 *
 * With S = zt zi^T, L = e^s S, Pr = softmax over rows and Pc = softmax over columns of L:
 *   loss = -(sum_i log Pr_ii + sum_i log Pc_ii) / 2B
 *   dL   = (Pr + Pc - 2I) / 2B          (gradient of the loss with respect to the logits)
 *   ds   = sum(dL * L)                  dzt = e^s dL zi     dzi = e^s dL^T zt
 * then back through the L2 normalisation, z = y/|y|:  dy = (dz - z * rowsum(dz * z)) / |y|,
 * and the heads: Gemm -> Relu -> Gemm (Relu' taken as Sign(h), since h = relu(a) >= 0).
 */

export interface StepGraphShape {
  head: HeadKind;
  textDims: number;
  imageDims: number;
  hiddenDims: number;
  dims: number;
}

/** Parameter names in graph order: `text.w1`, `text.b1`, ..., `logitScale`. */
export function stepParams(head: HeadKind): string[] {
  const perHead = head === 'mlp' ? ['w1', 'b1', 'w2', 'b2'] : ['w1', 'b1'];
  return [...perHead.map((k) => `text.${k}`), ...perHead.map((k) => `image.${k}`), 'logitScale'];
}

export function buildStepGraph(shape: StepGraphShape): Uint8Array {
  const g = new GraphBuilder('infonce-step');
  const first = shape.head === 'mlp' ? shape.hiddenDims : shape.dims;
  const axis0 = g.constant([1], new BigInt64Array([0n]), 'axis0');

  const head = (side: 'text' | 'image', inDims: number) => {
    const x = g.input(`x.${side}`, 'float32', ['batch', inDims]);
    const w1 = g.input(`${side}.w1`, 'float32', [inDims, first]);
    const b1 = g.input(`${side}.b1`, 'float32', [first]);
    if (shape.head === 'linear') return { x, w1, ...headLayers(g, x, { w1, b1 }), w2: undefined };
    const w2 = g.input(`${side}.w2`, 'float32', [shape.hiddenDims, shape.dims]);
    const b2 = g.input(`${side}.b2`, 'float32', [shape.dims]);
    return { x, w1, ...headLayers(g, x, { w1, b1, w2, b2 }), w2 };
  };
  const text = head('text', shape.textDims);
  const image = head('image', shape.imageDims);
  g.input('logitScale', 'float32', [1]);

  // Forward.
  const nt = l2Norm(g, text.y);
  const ni = l2Norm(g, image.y);
  const zt = g.op('Div', [text.y, nt]);
  const zi = g.op('Div', [image.y, ni]);
  const clamped = g.op('Clip', [
    'logitScale',
    g.constant([], new Float32Array([0])),
    g.constant([], new Float32Array([MAX_LOGIT_SCALE])),
  ]);
  const scale = g.op('Exp', [clamped]);
  const sim = g.op('Gemm', [zt, zi], { transB: 1 });
  const logits = g.op('Mul', [sim, scale]);
  const eye = g.op('EyeLike', [logits]);
  const logRows = g.op('LogSoftmax', [logits], { axis: 1 });
  const logCols = g.op('LogSoftmax', [logits], { axis: 0 });
  const diag = g.op(
    'ReduceSum',
    [g.op('Mul', [g.op('Add', [logRows, logCols]), eye]), g.constant([1], new BigInt64Array([1n]))],
    { keepdims: 0 },
  );
  // loss = -mean(diag) / 2
  g.node(
    'Mul',
    [g.op('ReduceMean', [diag], { keepdims: 0 }), g.constant([], new Float32Array([-0.5]))],
    'loss',
  );

  // Backward: gradient with respect to the logits.
  const batch = g.op('ReduceSum', [eye], { keepdims: 0 });
  const probs = g.op('Add', [g.op('Softmax', [logits], { axis: 1 }), g.op('Softmax', [logits], { axis: 0 })]);
  const twoEye = g.op('Add', [eye, eye]);
  const dLogits = g.op('Div', [g.op('Sub', [probs, twoEye]), g.op('Add', [batch, batch])]);
  const dScaleRaw = g.op('ReduceSum', [g.op('Mul', [dLogits, logits])], { keepdims: 0 });
  g.node('Reshape', [dScaleRaw, g.constant([1], new BigInt64Array([1n]))], 'grad.logitScale');
  const dSim = g.op('Mul', [dLogits, scale]);
  const dzt = g.op('Gemm', [dSim, zi]);
  const dzi = g.op('Gemm', [dSim, zt], { transA: 1 });

  const backHead = (
    side: 'text' | 'image',
    p: ReturnType<typeof head>,
    z: string,
    norm: string,
    dz: string,
  ) => {
    const axes = g.constant([1], new BigInt64Array([1n]));
    const radial = g.op('ReduceSum', [g.op('Mul', [dz, z]), axes], { keepdims: 1 });
    const dy = g.op('Div', [g.op('Sub', [dz, g.op('Mul', [z, radial])]), norm]);
    let da = dy;
    if (p.h !== undefined && p.w2 !== undefined) {
      g.node('Gemm', [p.h, dy], `grad.${side}.w2`, { transA: 1 });
      g.node('ReduceSum', [dy, axis0], `grad.${side}.b2`, { keepdims: 0 });
      const dh = g.op('Gemm', [dy, p.w2], { transB: 1 });
      da = g.op('Mul', [dh, g.op('Sign', [p.h])]);
    }
    g.node('Gemm', [p.x, da], `grad.${side}.w1`, { transA: 1 });
    g.node('ReduceSum', [da, axis0], `grad.${side}.b1`, { keepdims: 0 });
  };
  backHead('text', text, zt, nt, dzt);
  backHead('image', image, zi, ni, dzi);

  g.output('loss', 'float32', []);
  const dimsOf: Record<string, number[]> = {
    w1: [-1, first],
    b1: [first],
    w2: [shape.hiddenDims, shape.dims],
    b2: [shape.dims],
  };
  for (const name of stepParams(shape.head)) {
    if (name === 'logitScale') {
      g.output('grad.logitScale', 'float32', [1]);
      continue;
    }
    const [side, key] = name.split('.') as ['text' | 'image', string];
    const dims = [...(dimsOf[key] as number[])];
    if (key === 'w1') dims[0] = side === 'text' ? shape.textDims : shape.imageDims;
    g.output(`grad.${name}`, 'float32', dims);
  }
  return g.toBytes();
}
