import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { createInitialWeights } from '../../src/models/projection.ts';
import { fitProjection } from '../../src/train/fit.ts';
import { assertFiniteWeights, checkFitOptions } from '../../src/train/fit-options.ts';
import { createRng } from '../../src/train/rng.ts';
import type { FeatureSubset } from '../../src/train/subset.ts';

const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger: silentLogger };

function randomSubset(n: number, dims = 6): FeatureSubset {
  const rng = createRng(7);
  return {
    text: Float32Array.from({ length: n * dims }, () => rng.normal()),
    image: Float32Array.from({ length: n * dims }, () => rng.normal()),
    textDims: dims,
    imageDims: dims,
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };
}

async function failure(p: Promise<unknown>): Promise<{ code: unknown; message: string }> {
  const error = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: unknown; message: string } | undefined;
  return { code: error?.code, message: error?.message ?? 'resolved' };
}

describe('training options and divergence', () => {
  it('refuses a huge learning rate and a NaN weight decay in one INVALID_INPUT naming both', async () => {
    const r = await failure(
      fitProjection(randomSubset(8), undefined, { lr: 1e30, weightDecay: Number('abc'), epochs: 1 }, runtime),
    );
    expect(r.code).toBe('INVALID_INPUT');
    expect(r.message).toMatch(
      /^invalid training options:\n {2}- lr: .*\(got 1e\+30\)\n {2}- weightDecay: .*\(got NaN\)$/,
    );
  });

  it('accepts the documented defaults and ranges', () => {
    expect(checkFitOptions({ lr: 0.002, weightDecay: 0, epochs: 30, batchSize: 256, seed: 0 })).toEqual({
      lr: 0.002,
      weightDecay: 0,
      epochs: 30,
      batchSize: 256,
      seed: 0,
    });
  });

  it('reports NaN features as TRAINING_DIVERGED naming the features, not the learning rate', async () => {
    const s = randomSubset(8);
    s.image[3 * 6 + 2] = Number.NaN;
    const r = await failure(fitProjection(s, undefined, { epochs: 1, dims: 4, head: 'linear' }, runtime));
    expect(r).toEqual({
      code: 'TRAINING_DIVERGED',
      message:
        'the training image features hold a non-finite value (row 3): the encoder produced NaN or Infinity; check the inputs and the encoder, not --lr',
    });
  });

  it('refuses runaway or non-finite weights before they are saved', () => {
    const w = createInitialWeights({ textDims: 4, imageDims: 4, dims: 2, head: 'linear', seed: 1 });
    expect(() => assertFiniteWeights(w, 'before saving')).not.toThrow();
    w.image.w1[1] = 4e6;
    expect(() => assertFiniteWeights(w, 'before saving')).toThrow(
      expect.objectContaining({
        code: 'TRAINING_DIVERGED',
        message: 'training diverged before saving: image.w1[1] = 4000000; lower --lr or check the features',
      }),
    );
  });
});
