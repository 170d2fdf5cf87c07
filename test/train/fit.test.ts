import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { MAX_LOGIT_SCALE, createInitialWeights, weightsHash } from '../../src/models/projection.ts';
import { fitProjection } from '../../src/train/fit.ts';
import { AdamW, learningRate } from '../../src/train/optimizer.ts';
import { createRng } from '../../src/train/rng.ts';
import type { FeatureSubset } from '../../src/train/subset.ts';
import { TrainStep } from '../../src/train/train-step.ts';
import { paramsFromWeights } from '../../src/train/trainer-params.ts';

const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger: silentLogger };

/** Paired features with a shared latent per pair, so there is something to learn. */
function pairedSubset(n: number, seed: number, textDims = 10, imageDims = 14): FeatureSubset {
  const rng = createRng(seed);
  const latent = Array.from({ length: n }, () => Array.from({ length: 4 }, () => rng.normal()));
  const mix = (dims: number) => Array.from({ length: 4 * dims }, () => rng.normal());
  const [mt, mi] = [mix(textDims), mix(imageDims)];
  const embed = (m: number[], dims: number) =>
    Float32Array.from({ length: n * dims }, (_, k) => {
      const [r, j] = [Math.floor(k / dims), k % dims];
      return latent[r]!.reduce((s, z, l) => s + z * m[l * dims + j]!, 0) + 0.1 * rng.normal();
    });
  return {
    text: embed(mt, textDims),
    image: embed(mi, imageDims),
    textDims,
    imageDims,
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };
}

/** Rows [from, to) of a one-caption-per-image subset, re-indexed. */
function rowsOf(s: FeatureSubset, from: number, to: number): FeatureSubset {
  const n = to - from;
  return {
    ...s,
    text: s.text.slice(from * s.textDims, to * s.textDims),
    image: s.image.slice(from * s.imageDims, to * s.imageDims),
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };
}

describe('optimiser and schedule', () => {
  it('AdamW takes a first step of lr * sign(g) and decays matrices only', () => {
    const params = new Map([
      ['text.w1', new Float32Array([1, -1])],
      ['text.b1', new Float32Array([1, -1])],
    ]);
    const grads = new Map([
      ['text.w1', new Float32Array([0.5, -2])],
      ['text.b1', new Float32Array([0.5, -2])],
    ]);
    new AdamW({ weightDecay: 0.1 }).step(params, grads, 0.01);
    expect(Array.from(params.get('text.w1')!)).toEqual(
      [1 * (1 - 0.001) - 0.01, -1 * (1 - 0.001) + 0.01].map((v) => expect.closeTo(v, 6)),
    );
    expect(Array.from(params.get('text.b1')!)).toEqual([0.99, -0.99].map((v) => expect.closeTo(v, 6)));
  });

  it('warms up linearly, then decays along a cosine to the floor', () => {
    expect(learningRate(0, 100, 1, 10)).toBeCloseTo(0.1);
    expect(learningRate(9, 100, 1, 10)).toBeCloseTo(1);
    expect(learningRate(55, 100, 1, 10, 0)).toBeCloseTo(0.5);
    expect(learningRate(100, 100, 1, 10, 0.02)).toBeCloseTo(0.02);
  });
});

describe('temperature clamp', () => {
  it('the step graph uses the logit scale clamped to [0, ln 100]', async () => {
    const shape = { head: 'linear' as const, textDims: 10, imageDims: 14, hiddenDims: 0, dims: 6 };
    const step = await TrainStep.create(shape, runtime);
    const s = pairedSubset(8, 1);
    const params = paramsFromWeights(createInitialWeights({ ...shape, seed: 1 }));
    const lossAt = async (scale: number) => {
      params.set('logitScale', new Float32Array([scale]));
      return (await step.run(s.text, s.image, 8, params)).loss;
    };
    expect(await lossAt(50)).toBeCloseTo(await lossAt(MAX_LOGIT_SCALE), 5);
    expect(await lossAt(-3)).toBeCloseTo(await lossAt(0), 5);
    expect(await lossAt(2)).not.toBeCloseTo(await lossAt(0), 3);
    await step.close();
  });

  it('training keeps the learned logit scale inside [0, ln 100] from either side', async () => {
    const s = pairedSubset(64, 2);
    const opts = { head: 'linear' as const, dims: 8, epochs: 3, batchSize: 32, lr: 0.5 };
    const hot = await fitProjection(s, undefined, { ...opts, temperature: 1e-6 }, runtime);
    expect(hot.weights.logitScale).toBeLessThanOrEqual(MAX_LOGIT_SCALE + 1e-6);
    const cold = await fitProjection(s, undefined, { ...opts, temperature: 50 }, runtime);
    expect(cold.weights.logitScale).toBeGreaterThanOrEqual(0);
  });
});

describe('fitProjection', () => {
  it('is deterministic for a seed and differs for another seed', async () => {
    const s = pairedSubset(96, 3);
    const opts = { dims: 8, hiddenDims: 16, epochs: 2, batchSize: 32 };
    const [a, b, c] = [
      await fitProjection(s, undefined, { ...opts, seed: 1 }, runtime),
      await fitProjection(s, undefined, { ...opts, seed: 1 }, runtime),
      await fitProjection(s, undefined, { ...opts, seed: 2 }, runtime),
    ];
    expect(weightsHash(a.weights)).toBe(weightsHash(b.weights));
    expect(weightsHash(a.weights)).not.toBe(weightsHash(c.weights));
  });

  it('lowers the loss and learns to retrieve the paired rows', async () => {
    const all = pairedSubset(320, 4);
    const [train, val] = [rowsOf(all, 0, 256), rowsOf(all, 256, 320)];
    const losses: number[] = [];
    const fit = await fitProjection(
      train,
      val,
      { dims: 8, hiddenDims: 32, epochs: 15, batchSize: 64, lr: 0.01 },
      runtime,
      {
        onEpoch: (e) => losses.push(e.loss),
      },
    );
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
    expect(fit.validation!.t2i.r5).toBeGreaterThan(0.5);
  });
});
