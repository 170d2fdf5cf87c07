import { describe, expect, it } from 'vitest';
import { epochLine, trainingProgress } from '../../scripts/lib/train-progress.ts';

const step = (s: number, total: number) => ({
  epoch: 1,
  step: s,
  totalSteps: total,
  loss: 2,
  lr: 0.001,
  temperature: 0.07,
  pairsPerSecond: 41230.4,
});

describe('training progress lines', () => {
  it('show loss, validation score, best mark, throughput and the time left at this pace', () => {
    const e = { epoch: 3, loss: 2.12345, valScore: 0.512, best: true };
    // 90 steps left at 0.5 s each.
    expect(epochLine(e, step(30, 120), 500)).toBe(
      'epoch 3: loss 2.1235 val 0.5120 (best) 41,230 pairs/s at most 45 s left',
    );
    expect(epochLine({ ...e, best: false, valScore: undefined, valLoss: 1.5 }, step(30, 120), 2000)).toBe(
      'epoch 3: loss 2.1235 val loss 1.5000 41,230 pairs/s at most 3 min 0 s left',
    );
  });

  it('without a step yet, print what is known and no guess', () => {
    expect(epochLine({ epoch: 1, loss: 3, valScore: undefined, best: false }, undefined, undefined)).toBe(
      'epoch 1: loss 3.0000',
    );
  });

  it('write one line per epoch, timed from the first step (not from the encoding before it)', () => {
    const lines: string[] = [];
    const progress = trainingProgress((l) => lines.push(l));
    progress.onStep(step(1, 10));
    progress.onEpoch({ epoch: 1, loss: 1, valScore: 0.9, best: true });
    progress.onStep(step(10, 10));
    progress.onEpoch({ epoch: 2, loss: 0.5, valScore: 0.95, best: true });
    expect(lines).toHaveLength(2);
    // One step seen: no pace yet, so no guess.
    expect(lines[0]).toBe('epoch 1: loss 1.0000 val 0.9000 (best) 41,230 pairs/s');
    expect(lines[1]).toMatch(/^epoch 2: loss 0\.5000 val 0\.9500 \(best\) 41,230 pairs\/s at most 0 s left$/);
  });
});
