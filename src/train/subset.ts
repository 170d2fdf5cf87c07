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
