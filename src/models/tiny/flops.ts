import type { BaseResNetConfig } from './base-resnet.ts';
import type { TinyBertConfig } from './tiny-bert.ts';
import type { TinyResNetConfig } from './tiny-resnet.ts';

/**
 * Multiply-accumulates per item of the generated encoders, counted from their configs the way
 * published figures count them: matrix products and convolutions only (norms, activations, softmax
 * and pooling are a rounding error). Beware the two conventions in the literature: ResNet-50's
 * "4.1 GFLOPs" (torchvision: 4.09) are multiply-accumulates, BERT-base's "22 GFLOPs per 128-token
 * sequence" count a multiply-accumulate as two operations.
 */

/** One BERT sequence of `tokens`: Q, K, V, output and the two FFN matrices per token, plus attention. */
export function bertMacs(
  cfg: Pick<TinyBertConfig, 'hiddenSize' | 'intermediateSize' | 'numLayers'>,
  tokens: number,
): number {
  const H = cfg.hiddenSize;
  const perTokenDense = 4 * H * H + 2 * H * cfg.intermediateSize;
  // Q.K^T and probs.V: T x T x H each, summed over the heads.
  const attention = 2 * tokens * tokens * H;
  return cfg.numLayers * (tokens * perTokenDense + attention);
}

const conv = (size: number, cin: number, cout: number, k: number) => size * size * cin * cout * k * k;
const down = (size: number, stride: number) => Math.ceil(size / stride);

/** One image through the bottleneck ResNet (stride on the 3x3, as in v1.5 and torchvision). */
export function baseResNetMacs(cfg: BaseResNetConfig): number {
  let size = down(cfg.imageSize, 2);
  let macs = conv(size, 3, cfg.embeddingSize, 7);
  size = down(size, 2); // max pool
  let cin = cfg.embeddingSize;
  cfg.hiddenSizes.forEach((cout, stage) => {
    const mid = cout / 4;
    for (let b = 0; b < (cfg.depths[stage] ?? 1); b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const out = down(size, stride);
      macs += conv(size, cin, mid, 1) + conv(out, mid, mid, 3) + conv(out, mid, cout, 1);
      if (stride !== 1 || cin !== cout) macs += conv(out, cin, cout, 1);
      cin = cout;
      size = out;
    }
  });
  return macs;
}

/** One image through the tiny ResNet (basic blocks). */
export function tinyResNetMacs(cfg: TinyResNetConfig): number {
  let size = down(cfg.imageSize, 2);
  let macs = conv(size, 3, cfg.embeddingSize, 3);
  let cin = cfg.embeddingSize;
  cfg.hiddenSizes.forEach((cout, stage) => {
    for (let b = 0; b < (cfg.depths[stage] ?? 1); b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const out = down(size, stride);
      macs += conv(out, cin, cout, 3) + conv(out, cout, cout, 3);
      if (stride !== 1 || cin !== cout) macs += conv(out, cin, cout, 1);
      cin = cout;
      size = out;
    }
  });
  return macs;
}
