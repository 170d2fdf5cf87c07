import { standardiseRows } from '../models/projection-init.ts';
import type { ProjectionWeights } from '../models/projection.ts';
import type { FeatureSubset } from './subset.ts';
import type { Params, TrainStep } from './train-step.ts';

/**
 * What early stopping ranks epochs by. Retrieval scores need a gallery large enough to separate
 * epochs: with 8 validation images R@5 and R@10 are near 1 for any projection, the score went
 * flat from epoch 3 and training stopped at epoch 9 while the loss still fell (test R@1 13.9
 * instead of 33.8). Below MIN_RANKING_IMAGES the trainer ranks epochs by the validation InfoNCE
 * loss instead, a continuous number that keeps moving; with no validation split, by training loss.
 */
export type StoppingCriterion = 'retrieval' | 'val-loss' | 'train-loss';

/**
 * Three times the largest K the score uses (R@10, P@10): a random ranking then has R@10 about
 * 1/3, so there is room to improve; fewer images and the top 10 is most of the gallery.
 */
export const MIN_RANKING_IMAGES = 30;

export function stoppingCriterion(val: FeatureSubset | undefined): StoppingCriterion {
  if (val === undefined || val.imageCaptions.length < 2) return 'train-loss';
  return val.imageCaptions.length >= MIN_RANKING_IMAGES ? 'retrieval' : 'val-loss';
}

/**
 * Prepares the validation InfoNCE loss: each image paired with its first caption (fixed, so
 * epochs are compared on the same pairs), standardised as the training inputs are.
 */
export function validationLoss(
  val: FeatureSubset,
  weights: ProjectionWeights,
): (step: TrainStep, params: Params) => Promise<number> {
  const n = val.imageCaptions.length;
  const firstCaption = new Float32Array(n * val.textDims);
  val.imageCaptions.forEach((captions, i) => {
    const c = captions[0] as number;
    firstCaption.set(val.text.subarray(c * val.textDims, (c + 1) * val.textDims), i * val.textDims);
  });
  const xt = standardiseRows(firstCaption, weights.text);
  const xi = standardiseRows(val.image, weights.image);
  // Only the loss is used; the step graph's gradients are discarded and the optimiser is not run.
  return async (step, params) => (await step.run(xt, xi, n, params)).loss;
}
