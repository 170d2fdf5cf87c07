import { GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from './rng.ts';
import { addShortcut, convBn, residualStages } from './resnet-layers.ts';
import type { ResidualBlock, ResNetShape } from './resnet-layers.ts';

/**
 * Shape of a bottleneck ResNet: a 7x7, stride-2 stem and a 3x3 max pool with stride 2, then stages
 * whose output channels are 4x the bottleneck width. The defaults are ResNet-50's.
 */
export type BaseResNetConfig = ResNetShape;

export const RESNET_50: BaseResNetConfig = {
  imageSize: 224,
  embeddingSize: 64,
  hiddenSizes: [256, 512, 1024, 2048],
  depths: [3, 4, 6, 3],
};

/** The bottleneck's inner width: ResNet expands by 4 in the last 1x1 convolution. */
const EXPANSION = 4;

/**
 * ResNet-50's computation with random weights, as Hugging Face `ResNetModel` runs it (v1.5: the
 * stride sits on the 3x3 convolution): `pixel_values` [batch, 3, S, S] -> `pooler_output`
 * [batch, 2048], the global average of the last stage (the classifier's input in the real export).
 * It exists so benchmarks cost what ResNet-50 costs; its features mean nothing. Init as in the
 * tiny ResNet, with the last BN of each residual branch scaled by 0.2: sixteen blocks that never
 * saw data would otherwise grow activations block by block.
 */
export function buildBaseResNet(cfg: BaseResNetConfig, rng: Rng): Uint8Array {
  const g = new GraphBuilder('base_resnet');
  const dims = cfg.hiddenSizes.at(-1)!;
  g.meta('model', 'base-resnet').meta('pooled_size', String(dims));
  g.input('pixel_values', 'float32', ['batch_size', 3, cfg.imageSize, cfg.imageSize]);

  let x = g.op('Relu', [
    convBn(g, rng.fork('embedder'), 'pixel_values', 3, cfg.embeddingSize, 7, 2, 'embedder', 1),
  ]);
  x = g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  x = residualStages(g, rng, x, cfg, bottleneck);
  g.node('Flatten', [g.op('GlobalAveragePool', [x])], ['pooler_output'], { axis: 1 });
  g.output('pooler_output', 'float32', ['batch_size', dims]);
  return g.toBytes();
}

const bottleneck: ResidualBlock = (g, rng, x, cin, cout, stride, name) => {
  const mid = cout / EXPANSION;
  const a = g.op('Relu', [convBn(g, rng, x, cin, mid, 1, 1, `${name}.layer.0`, 1)]);
  const b = g.op('Relu', [convBn(g, rng, a, mid, mid, 3, stride, `${name}.layer.1`, 1)]);
  const branch = convBn(g, rng, b, mid, cout, 1, 1, `${name}.layer.2`, 0.2);
  return addShortcut(g, rng, x, branch, cin, cout, stride, name);
};
