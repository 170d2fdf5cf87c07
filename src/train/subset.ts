import type { NamedAttributes, Scene } from './synthetic/scene.ts';
import type { PairedFeatures } from './feature-cache.ts';
import type { Split } from './paired-data.ts';

/** The rows of one split, re-indexed from 0, with the per-image caption rows the trainer samples from. */
export interface FeatureSubset {
  text: Float32Array;
  image: Float32Array;
  textDims: number;
  imageDims: number;
  captionImage: Int32Array;
  /** Caption rows of each image. */
  imageCaptions: number[][];
  scenes?: Scene[];
  named?: NamedAttributes[];
}

export function selectSplit(f: PairedFeatures, split: Split | 'all'): FeatureSubset {
  const rows = f.items
    .map((item, i) => (split === 'all' || item.split === split ? i : -1))
    .filter((i) => i >= 0);
  const captionsOf: number[][] = f.items.map(() => []);
  f.captionImage.forEach((img, c) => captionsOf[img]!.push(c));
  const image = new Float32Array(rows.length * f.imageDims);
  const textRows = rows.flatMap((r) => captionsOf[r] as number[]);
  const text = new Float32Array(textRows.length * f.textDims);
  rows.forEach((r, i) =>
    image.set(f.image.subarray(r * f.imageDims, (r + 1) * f.imageDims), i * f.imageDims),
  );
  textRows.forEach((c, i) => text.set(f.text.subarray(c * f.textDims, (c + 1) * f.textDims), i * f.textDims));
  const captionImage = new Int32Array(textRows.length);
  const imageCaptions: number[][] = [];
  let c = 0;
  rows.forEach((r, i) => {
    const own: number[] = [];
    for (const _ of captionsOf[r] as number[]) {
      captionImage[c] = i;
      own.push(c++);
    }
    imageCaptions.push(own);
  });
  const subset: FeatureSubset = {
    text,
    image,
    textDims: f.textDims,
    imageDims: f.imageDims,
    captionImage,
    imageCaptions,
  };
  const items = rows.map((r) => f.items[r]!);
  if (items.length > 0 && items.every((it) => it.scene !== undefined && it.named !== undefined)) {
    subset.scenes = items.map((it) => it.scene as Scene);
    subset.named = items.flatMap((it) => it.named as NamedAttributes[]);
  }
  return subset;
}

/** Per-column mean and 1/std over the rows; a small floor keeps near-constant columns from exploding. */
export function standardisation(x: Float32Array, dims: number): { mean: Float32Array; invStd: Float32Array } {
  const n = x.length / dims;
  const mean = new Float64Array(dims);
  const sq = new Float64Array(dims);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < dims; j++) {
      const v = x[r * dims + j] as number;
      mean[j]! += v;
      sq[j]! += v * v;
    }
  }
  const variance = new Float64Array(dims);
  let meanVariance = 0;
  for (let j = 0; j < dims; j++) {
    mean[j]! /= Math.max(1, n);
    variance[j] = Math.max(0, (sq[j] as number) / Math.max(1, n) - (mean[j] as number) ** 2);
    meanVariance += (variance[j] as number) / dims;
  }
  const floor = 0.01 * meanVariance + 1e-12;
  return {
    mean: Float32Array.from(mean),
    invStd: Float32Array.from(variance, (v) => 1 / Math.sqrt(v + floor)),
  };
}
