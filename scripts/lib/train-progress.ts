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
  // Timed from the first step, not from the start: encoding the features comes first and would
  // make the early estimates far too long.
  let first: { step: number; at: number } | undefined;
  let last: StepEvent | undefined;
  return {
    onStep(e) {
      first ??= { step: e.step, at: performance.now() };
      last = e;
    },
    onEpoch(e) {
      const steps = first && last ? last.step - first.step : 0;
      write(epochLine(e, last, steps > 0 ? (performance.now() - first!.at) / steps : undefined));
    },
  };
}

/** `epoch 3: loss 2.1234 val 0.5120 (best) 41,230 pairs/s, at most 46 s left` */
export function epochLine(e: EpochEvent, last: StepEvent | undefined, msPerStep: number | undefined): string {
  const parts = [`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}`];
  if (e.valScore !== undefined) parts.push(`val ${e.valScore.toFixed(4)}`);
  if (e.valLoss !== undefined) parts.push(`val loss ${e.valLoss.toFixed(4)}`);
  if (e.best) parts.push('(best)');
  if (last) {
    parts.push(`${Math.round(last.pairsPerSecond).toLocaleString('en-US')} pairs/s`);
    if (msPerStep !== undefined)
      parts.push(`at most ${formatSeconds((msPerStep * (last.totalSteps - last.step)) / 1000)} left`);
  }
  return parts.join(' ');
}

function formatSeconds(s: number): string {
  if (s < 90) return `${Math.max(0, Math.round(s))} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
