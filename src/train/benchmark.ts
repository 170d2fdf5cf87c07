import { AppError } from '../errors.ts';
import { retrievalScores, type RetrievalData } from './metrics.ts';

/**
 * The published cross-modal retrieval protocol on Karpathy's test splits: R@1/5/10 both ways and
 * RSUM (their sum, in percent). COCO 1K is the 5K test split cut into five consecutive folds of
 * 1,000 images (with their captions), each ranked on its own, the recalls averaged over folds.
 * Hits are today's metrics.ts definitions: a caption finds its own image; an image finds any of
 * its captions.
 */

export type BenchmarkName = 'coco5k' | 'coco1k' | 'flickr30k';

export interface BenchmarkSpec {
  /** How many folds the test images are cut into; the recalls are averaged over them. */
  folds: number;
  /** Test images in Karpathy's split, to flag a run that lost images on the way. */
  images: number;
}

export const BENCHMARKS: Record<BenchmarkName, BenchmarkSpec> = {
  coco5k: { folds: 1, images: 5000 },
  coco1k: { folds: 5, images: 5000 },
  flickr30k: { folds: 1, images: 1000 },
};

export interface Recalls {
  r1: number;
  r5: number;
  r10: number;
}

export interface BenchmarkScores {
  t2i: Recalls;
  i2t: Recalls;
  /** Sum of the six recalls in percent (0-600). */
  rsum: number;
  folds: number;
}

/** Scores `data` cut into `folds` consecutive, equal runs of images (1 = the whole set). */
export function benchmarkScores(data: RetrievalData, folds = 1): BenchmarkScores {
  const images = data.imageVectors.length / data.dims;
  if (!Number.isInteger(folds) || folds < 1 || images % folds !== 0 || images / folds < 1) {
    throw new AppError('INVALID_INPUT', `${images} images cannot be cut into ${folds} equal folds`);
  }
  const size = images / folds;
  const sum = { t2i: { r1: 0, r5: 0, r10: 0 }, i2t: { r1: 0, r5: 0, r10: 0 } };
  for (let f = 0; f < folds; f++) {
    const s = retrievalScores(fold(data, f * size, size), { detail: false });
    for (const dir of ['t2i', 'i2t'] as const)
      for (const k of ['r1', 'r5', 'r10'] as const) sum[dir][k] += s[dir][k] / folds;
  }
  const rsum = 100 * (['t2i', 'i2t'] as const).reduce((a, d) => a + sum[d].r1 + sum[d].r5 + sum[d].r10, 0);
  return { ...sum, rsum, folds };
}

/** Images [start, start + size) and the captions that belong to them, re-indexed from 0. */
function fold(data: RetrievalData, start: number, size: number): RetrievalData {
  const { dims } = data;
  const captions: number[] = [];
  data.captionImage.forEach((img, c) => {
    if (img >= start && img < start + size) captions.push(c);
  });
  const textVectors = new Float32Array(captions.length * dims);
  captions.forEach((c, i) => textVectors.set(data.textVectors.subarray(c * dims, (c + 1) * dims), i * dims));
  return {
    dims,
    textVectors,
    imageVectors: data.imageVectors.subarray(start * dims, (start + size) * dims),
    captionImage: Int32Array.from(captions, (c) => data.captionImage[c]! - start),
  };
}

export interface PublishedRow {
  model: string;
  /** Percent; absent where the source does not report it. */
  t2i: Partial<Recalls>;
  i2t: Partial<Recalls>;
  source: string;
}

const OPEN_CLIP =
  'open_clip retrieval results table, github.com/mlfoundations/open_clip docs/openclip_retrieval_results.csv (ViT-B-32, openai)';
const VSEPP =
  'Faghri et al., VSE++: Improving Visual-Semantic Embeddings with Hard Negatives (BMVC 2018), MS-COCO 5K test, VSE++ (ResNet), fine-tuned';

/** Published numbers to print beside ours, per profile and benchmark. */
export const PUBLISHED: Partial<Record<string, Partial<Record<BenchmarkName, PublishedRow[]>>>> = {
  clip: {
    coco5k: [
      {
        model: 'CLIP ViT-B/32 zero-shot',
        t2i: { r1: 30.4, r5: 55.9, r10: 66.9 },
        i2t: { r1: 50.1, r5: 75.0, r10: 83.5 },
        source: OPEN_CLIP,
      },
    ],
    flickr30k: [
      {
        model: 'CLIP ViT-B/32 zero-shot',
        t2i: { r1: 58.8, r5: 83.6, r10: 90.0 },
        i2t: { r1: 78.9, r5: 94.9, r10: 98.2 },
        source: OPEN_CLIP,
      },
    ],
  },
  'bert-resnet': {
    coco5k: [{ model: 'VSE++ ResNet-152', t2i: { r1: 30.3 }, i2t: { r1: 41.3 }, source: VSEPP }],
  },
};
