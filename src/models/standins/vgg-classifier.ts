import { float, GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from '../tiny/rng.ts';
import type { StandinExportOptions } from './bert-masked-lm.ts';

/**
 * The structure of torchvision's VGG-16 as the ONNX model zoo exports it
 * (onnxmodelzoo/vgg16_Opset18_torch_hub: one image input `x`, only the class scores out) at
 * reduced width: conv 3x3 + ReLU + MaxPool blocks -> average pool to 7x7 -> Flatten ->
 * fc6 (Gemm) -> ReLU -> fc7 (Gemm) -> ReLU -> fc8 (Gemm) -> `logits`. The twin also outputs
 * fc7 after its ReLU as `pooler_output`. Input 224 x 224, as the supplied preprocessing crops.
 */
export function buildVggClassifier(rng: Rng, options: StandinExportOptions = {}): Uint8Array {
  const g = new GraphBuilder('main_graph', { opset: 18 });
  g.input('x', 'float32', ['batch_size', 3, 224, 224]);
  const conv = (x: string, cin: number, cout: number, name: string) => {
    const r = rng.fork(name);
    const w = g.initializer(
      `${name}.weight`,
      [cout, cin, 3, 3],
      r.normals(cout * cin * 9, Math.sqrt(2 / (cin * 9))),
    );
    const b = g.initializer(`${name}.bias`, [cout], r.normals(cout, 0.05));
    const y = g.op('Relu', [g.op('Conv', [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
    return g.op('MaxPool', [y], { kernel_shape: [2, 2], strides: [2, 2] });
  };
  const fc = (x: string, fanIn: number, fanOut: number, name: string) => {
    const r = rng.fork(name);
    const w = g.initializer(
      `${name}.weight`,
      [fanOut, fanIn],
      r.normals(fanOut * fanIn, Math.sqrt(2 / fanIn)),
    );
    const b = g.initializer(`${name}.bias`, [fanOut], r.normals(fanOut, 0.05));
    return [x, w, b];
  };
  let x = conv('x', 3, 4, 'features.0');
  x = conv(x, 4, 8, 'features.5');
  // 56 x 56 -> 7 x 7, what AdaptiveAvgPool2d((7, 7)) amounts to at this size.
  x = g.op('Flatten', [g.op('AveragePool', [x], { kernel_shape: [8, 8], strides: [8, 8] })], { axis: 1 });
  const gemm = { alpha: float(1), beta: float(1), transB: 1 };
  const fc6 = g.op('Relu', [g.op('Gemm', fc(x, 8 * 49, 32, 'classifier.0'), gemm)]);
  const fc7 = g.op('Relu', [g.op('Gemm', fc(fc6, 32, 32, 'classifier.3'), gemm)]);
  g.node('Gemm', fc(fc7, 32, 10, 'classifier.6'), ['logits'], gemm);
  g.output('logits', 'float32', ['batch_size', 10]);
  if (options.twin) {
    g.node('Identity', [fc7], ['pooler_output']);
    g.output('pooler_output', 'float32', ['batch_size', 32]);
  }
  return g.toBytes();
}
