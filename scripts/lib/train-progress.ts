import type { EpochEvent, StepEvent } from '../../src/train/fit.ts';

/**
 * Plain-text training progress for logs and terminals without progress bars: one line per epoch
 * with loss, validation score, throughput and the time left. The ETA assumes every planned epoch
 * runs; early stopping can only make it shorter.
 */
export function trainingProgress(write: (line: string) => void): {
  onStep(e: StepEvent): void;
  onEpoch(e: EpochEvent): void;
} {
  const started = performance.now();
  let last: StepEvent | undefined;
  return {
    onStep(e) {
      last = e;
    },
    onEpoch(e) {
      write(epochLine(e, last, performance.now() - started));
    },
  };
}

/** `epoch 3: loss 2.1234 val 0.5120 (best) 41,230 pairs/s, at most 46 s left` */
export function epochLine(e: EpochEvent, last: StepEvent | undefined, elapsedMs: number): string {
  const parts = [`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}`];
  if (e.valScore !== undefined) parts.push(`val ${e.valScore.toFixed(4)}`);
  if (e.valLoss !== undefined) parts.push(`val loss ${e.valLoss.toFixed(4)}`);
  if (e.best) parts.push('(best)');
  if (last) {
    parts.push(`${Math.round(last.pairsPerSecond).toLocaleString('en-US')} pairs/s`);
    const left = last.step > 0 ? (elapsedMs / last.step) * (last.totalSteps - last.step) : undefined;
    if (left !== undefined) parts.push(`at most ${formatSeconds(left / 1000)} left`);
  }
  return parts.join(' ');
}

function formatSeconds(s: number): string {
  if (s < 90) return `${Math.max(0, Math.round(s))} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
