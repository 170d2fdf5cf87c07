import path from 'node:path';
import { validationScore } from './fit.ts';
import type { RetrievalScores } from './metrics.ts';

/**
 * The gate between a fine-tuned projection of a pre-aligned profile (CLIP) and its zero-shot
 * identity: the fine-tune becomes the active projection only when it beats zero-shot on the
 * validation split. Anything else would make search worse than doing nothing, and would change
 * the model fingerprint (forcing a reindex) for no gain.
 */

export interface GateVerdict {
  active: boolean;
  /** One sentence for the operator: the two scores and what happened. */
  reason: string;
}

/** Where a fine-tune that lost to zero-shot is kept, for `npm run eval` and inspection. */
export function rejectedDir(activeDir: string): string {
  return path.join(activeDir, 'rejected');
}

/**
 * Active only when strictly better: a tie keeps the identity, so the fingerprint (and every
 * index built with it) stays valid. Without a validation split nothing can be claimed, so the
 * identity stays too.
 */
export function judgeFineTune(
  fineTuned: RetrievalScores | undefined,
  zeroShot: RetrievalScores | undefined,
): GateVerdict {
  if (fineTuned === undefined || zeroShot === undefined) {
    return {
      active: false,
      reason:
        'no validation split (at least 2 images) to compare the fine-tune with zero-shot, so the zero-shot identity stays active',
    };
  }
  const fine = validationScore(fineTuned);
  const zero = validationScore(zeroShot);
  const scores = `fine-tuned ${fine.toFixed(4)} vs zero-shot ${zero.toFixed(4)} (${metricName(fineTuned)} on validation)`;
  return fine > zero
    ? { active: true, reason: `${scores}: the fine-tune beats zero-shot and is now active` }
    : {
        active: false,
        reason: `${scores}: the fine-tune is not better than zero-shot, so it is not made active`,
      };
}

function metricName(s: RetrievalScores): string {
  return s.t2i.p10 !== undefined && s.i2t.p10 !== undefined
    ? 'mean attribute P@10'
    : 'mean of R@1/5/10 both ways';
}
