import { float, GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from '../tiny/rng.ts';
import type { StandinExportOptions } from './bert-masked-lm.ts';

export interface StandinResNetConfig {
  imageSize: number;
  /** Stem width (ResNet-50: 64). */
  embeddingSize: number;
  /** Bottleneck inner width (ResNet-50's last stage: 512). */
  bottleneckSize: number;
  /** Output width of the last stage = pooled feature width (ResNet-50: 2048). */
  hiddenSize: number;
  numLabels: number;
}

export const STANDIN_RESNET: StandinResNetConfig = {
  imageSize: 32,
  embeddingSize: 8,
  bottleneckSize: 4,
  hiddenSize: 16,
  numLabels: 10,
};

/**
 * The structure of Xenova/resnet-50 (ResNetForImageClassification, optimum's
 * `image-classification` task, opset 11, BatchNorm folded into the convolutions) at reduced
 * width: `pixel_values` [batch_size, num_channels, height, width] -> stem conv 7x7/2 -> ReLU ->
 * MaxPool 3x3/2 -> one bottleneck block (1x1, 3x3, 1x1 + projection shortcut) ->
 * GlobalAveragePool -> Flatten -> Gemm(transB=1) -> `logits` [batch_size, labels], the only output.
 */
export function buildResNetClassifier(
  cfg: StandinResNetConfig,
  rng: Rng,
  options: StandinExportOptions = {},
): Uint8Array {
  const g = new GraphBuilder('main_graph', { opset: 17 });
  g.input('pixel_values', 'float32', ['batch_size', 'num_channels', 'height', 'width']);
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, name: string) => {
    const r = rng.fork(name);
    const w = g.initializer(
      `${name}.weight`,
      [cout, cin, k, k],
      r.normals(cout * cin * k * k, Math.sqrt(2 / (cin * k * k))),
    );
    const b = g.initializer(`${name}.bias`, [cout], r.normals(cout, 0.05));
    const pad = Math.floor(k / 2);
    return g.op('Conv', [x, w, b], {
      kernel_shape: [k, k],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    });
  };
  const { embeddingSize: E, bottleneckSize: B, hiddenSize: C } = cfg;
  let x = g.op('Relu', [conv('pixel_values', 3, E, 7, 2, 'resnet.embedder.convolution')]);
  x = g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  const block = 'resnet.encoder.stages.0.layers.0';
  let h = g.op('Relu', [conv(x, E, B, 1, 1, `${block}.layer.0`)]);
  h = g.op('Relu', [conv(h, B, B, 3, 1, `${block}.layer.1`)]);
  h = conv(h, B, C, 1, 1, `${block}.layer.2`);
  x = g.op('Relu', [g.op('Add', [h, conv(x, E, C, 1, 1, `${block}.shortcut`)])]);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: 1 });
  const head = rng.fork('classifier');
  const w = g.initializer('classifier.1.weight', [cfg.numLabels, C], head.normals(cfg.numLabels * C, 0.1));
  const b = g.initializer('classifier.1.bias', [cfg.numLabels], head.normals(cfg.numLabels, 0.01));
  g.node('Gemm', [pooled, w, b], ['logits'], { alpha: float(1), beta: float(1), transB: 1 });
  g.output('logits', 'float32', ['batch_size', cfg.numLabels]);
  if (options.twin) {
    g.node('Identity', [pooled], ['pooler_output']);
    g.output('pooler_output', 'float32', ['batch_size', C]);
  }
  return g.toBytes();
}
