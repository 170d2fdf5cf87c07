import { float, type GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from './rng.ts';

/** The shape of a ResNet, as the tiny and the ResNet-50-sized builders share it. */
export interface ResNetShape {
  /** Input side in pixels (square images). */
  imageSize: number;
  /** Channels out of the stem, into the first stage. */
  embeddingSize: number;
  /** Output channels per stage; every stage after the first halves the resolution. */
  hiddenSizes: readonly number[];
  /** Residual blocks per stage. */
  depths: readonly number[];
}

/** One residual block: `x` with `cin` channels -> `cout`, with `stride` on its spatial convolution. */
export type ResidualBlock = (
  g: GraphBuilder,
  rng: Rng,
  x: string,
  cin: number,
  cout: number,
  stride: number,
  name: string,
) => string;

/**
 * The stages after the stem, named as Hugging Face `ResNetModel` names them; the first block of
 * every stage after the first halves the resolution. Each block draws from its own fork of `rng`,
 * so a block's weights do not depend on the blocks before it. `onStage` sees each stage's output
 * before the next stage starts.
 */
export function residualStages(
  g: GraphBuilder,
  rng: Rng,
  x: string,
  cfg: ResNetShape,
  block: ResidualBlock,
  onStage: (x: string, stage: number) => void = () => {},
): string {
  let channels = cfg.embeddingSize;
  cfg.hiddenSizes.forEach((out, stage) => {
    for (let b = 0; b < (cfg.depths[stage] ?? 1); b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const name = `encoder.stages.${stage}.layers.${b}`;
      x = block(g, rng.fork(name), x, channels, out, stride, name);
      channels = out;
    }
    onStage(x, stage);
  });
  return x;
}

/**
 * The end of a residual block: ReLU(branch + shortcut), where the shortcut is `x` itself or, when
 * the block changes the resolution or the width, a 1x1 projection of it.
 */
export function addShortcut(
  g: GraphBuilder,
  rng: Rng,
  x: string,
  branch: string,
  cin: number,
  cout: number,
  stride: number,
  name: string,
): string {
  const shortcut =
    stride !== 1 || cin !== cout ? convBn(g, rng, x, cin, cout, 1, stride, `${name}.shortcut`, 1) : x;
  return g.op('Relu', [g.op('Add', [branch, shortcut])]);
}

/** Conv (He-normal, same padding) -> BatchNorm with near-identity random statistics. */
export function convBn(
  g: GraphBuilder,
  rng: Rng,
  x: string,
  cin: number,
  cout: number,
  k: number,
  stride: number,
  name: string,
  gammaScale: number,
): string {
  const fanIn = cin * k * k;
  const w = g.initializer(
    `${name}.convolution.weight`,
    [cout, cin, k, k],
    rng.normals(cout * fanIn, Math.sqrt(2 / fanIn)),
  );
  const pad = Math.floor(k / 2);
  const conv = g.op('Conv', [x, w], {
    kernel_shape: [k, k],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
  });
  const gamma = rng.normals(cout, 0.05, 1).map((v) => v * gammaScale);
  const scale = g.initializer(`${name}.normalization.weight`, [cout], gamma);
  const bias = g.initializer(`${name}.normalization.bias`, [cout], rng.normals(cout, 0.05));
  const mean = g.initializer(`${name}.normalization.running_mean`, [cout], rng.normals(cout, 0.05));
  const variance = g.initializer(`${name}.normalization.running_var`, [cout], rng.uniforms(cout, 0.9, 1.1));
  return g.op('BatchNormalization', [conv, scale, bias, mean, variance], { epsilon: float(1e-5) });
}
