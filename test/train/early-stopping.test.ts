import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MIN_RANKING_IMAGES } from '../../src/train/early-stopping.ts';
import { fitProjection, type EpochEvent } from '../../src/train/fit.ts';
import { precisionAtK } from '../../src/train/metrics.ts';
import { createRng } from '../../src/train/rng.ts';
import type { FeatureSubset } from '../../src/train/subset.ts';

/** One caption per image, both sides a noisy linear image of a shared latent. */
function pairs(n: number, seed: number, dims = 8): FeatureSubset {
  const rng = createRng(seed);
  const latent = Array.from({ length: n * 3 }, () => rng.normal());
  const mix = (d: number) => Array.from({ length: 3 * d }, () => rng.normal());
  const [mt, mi] = [mix(dims), mix(dims)];
  const side = (m: number[]) =>
    Float32Array.from({ length: n * dims }, (_, k) => {
      const [r, j] = [Math.floor(k / dims), k % dims];
      return [0, 1, 2].reduce((s, l) => s + latent[r * 3 + l]! * m[l * dims + j]!, 0) + 0.1 * rng.normal();
    });
  return {
    text: side(mt),
    image: side(mi),
    textDims: dims,
    imageDims: dims,
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };
}

function capturingLogger(): { logger: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) },
  );
  return { logger, messages };
}

describe('early stopping on a validation split too small to rank', () => {
  it('warns and ranks epochs by the validation loss, still reporting validation scores', async () => {
    const { logger, messages } = capturingLogger();
    const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger };
    const events: EpochEvent[] = [];
    const fit = await fitProjection(
      pairs(64, 1),
      pairs(8, 2),
      { head: 'linear', dims: 4, epochs: 4, batchSize: 32, lr: 0.01, patience: 1 },
      runtime,
      { onEpoch: (e) => events.push(e) },
    );
    expect(MIN_RANKING_IMAGES).toBeGreaterThan(8);
    expect(messages).toEqual([
      'the validation split is too small to rank epochs by retrieval; early stopping uses the validation loss',
    ]);
    expect(fit.criterion).toBe('val-loss');
    expect(events.map((e) => [e.valScore, typeof e.valLoss])).toEqual(
      events.map(() => [undefined, 'number']),
    );
    // The kept epoch is the one with the lowest validation loss.
    const lowest = events.reduce((a, b) => (b.valLoss! < a.valLoss! ? b : a));
    expect(fit.bestEpoch).toBe(lowest.epoch);
    expect(fit.validation?.t2i.r10).toBe(1); // 8 images: every caption's image is in the top 10
  });

  it('ranks by retrieval once the split is large enough', async () => {
    const { logger, messages } = capturingLogger();
    const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger };
    const fit = await fitProjection(
      pairs(64, 1),
      pairs(MIN_RANKING_IMAGES, 3),
      { head: 'linear', dims: 4, epochs: 1, batchSize: 32 },
      runtime,
    );
    expect({ criterion: fit.criterion, messages }).toEqual({ criterion: 'retrieval', messages: [] });
  });
});

describe('Precision@K on a gallery smaller than K', () => {
  it('divides by the gallery size, so a full random ranking scores the chance share', () => {
    // 4 items, 2 of them hits; rankExact returns the whole gallery when it is shorter than k.
    const ranked = [Int32Array.from([0, 1, 2, 3]), Int32Array.from([3, 2, 1, 0])];
    const even = (_q: number, item: number) => item % 2 === 0;
    expect(precisionAtK(ranked, even, 10)).toBe(0.5);
    expect(precisionAtK(ranked, even, 2)).toBe(0.5); // [0,1] -> 1 of 2; [3,2] -> 1 of 2
  });
});
