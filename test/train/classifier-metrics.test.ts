import { describe, expect, it } from 'vitest';
import { bestThreshold, rocAuc, thresholdAccuracy } from '../../src/train/classifier-metrics.ts';

describe('classifier metrics', () => {
  it('ROC-AUC is 1 for a perfect ranking, 0 for a reversed one, and counts ties as half', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    // One positive below one negative out of four pairs.
    expect(rocAuc([0.1, 0.4, 0.3, 0.9], [0, 0, 1, 1])).toBe(0.75);
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });

  it('puts the threshold between the scores that separate the labels best', () => {
    const scores = [0.1, 0.2, 0.3, 0.6, 0.7, 0.8];
    const labels = [0, 0, 0, 1, 1, 1];
    const t = bestThreshold(scores, labels);
    expect(t).toBeCloseTo(0.45, 10);
    expect(thresholdAccuracy(scores, labels, t)).toBe(1);
    // All positive: the threshold below everything calls every example a match.
    expect(bestThreshold([0.3, 0.4], [1, 1])).toBe(-Infinity);
    expect(thresholdAccuracy([0.2, 0.9, 0.5], [0, 1, 1], 0.5)).toBe(1);
  });
});
