import { GraphBuilder } from '../onnx/graph-builder.ts';
import type { StepGraphShape } from './step-graph.ts';

/**
 * Only the matrix products of one training step, with the step graph's shapes and transposes,
 * and nothing else: the ceiling the trainer is measured against (`npm run bench:train`).
 * Every product is a graph output, so onnxruntime cannot drop any of them.
 */
export function buildMatmulGraph(shape: StepGraphShape): Uint8Array {
  const g = new GraphBuilder('training-step-matmuls');
  const first = shape.head === 'mlp' ? shape.hiddenDims : shape.dims;
  const outputs: string[] = [];
  const out = (name: string): string => {
    outputs.push(name);
    return name;
  };
  const head = (side: string, inDims: number): { z: string } => {
    const x = g.input(`x.${side}`, 'float32', ['batch', inDims]);
    const w1 = g.input(`${side}.w1`, 'float32', [inDims, first]);
    const a = g.op('MatMul', [x, w1]);
    let dy: string;
    let z = a;
    if (shape.head === 'mlp') {
      const w2 = g.input(`${side}.w2`, 'float32', [shape.hiddenDims, shape.dims]);
      z = g.op('MatMul', [a, w2]);
      // Backward through the second layer: dW2 = h^T dy and dh = dy W2^T (dy stands in as z).
      g.node('Gemm', [a, z], out(`dw2.${side}`), { transA: 1 });
      dy = g.op('Gemm', [z, w2], { transB: 1 });
    } else {
      dy = z;
    }
    g.node('Gemm', [x, dy], out(`dw1.${side}`), { transA: 1 });
    return { z };
  };
  const t = head('text', shape.textDims);
  const i = head('image', shape.imageDims);
  const sim = g.op('Gemm', [t.z, i.z], { transB: 1 });
  g.node('Gemm', [sim, i.z], out('dzt'));
  g.node('Gemm', [sim, t.z], out('dzi'), { transA: 1 });
  for (const name of outputs) g.output(name, 'float32', [`${name}.rows`, `${name}.cols`]);
  return g.toBytes();
}
