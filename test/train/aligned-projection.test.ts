import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { isAppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import {
  createInitialProjection,
  createInitialWeights,
  loadProjection,
  projectionFromWeights,
  startOf,
} from '../../src/models/projection.ts';
import { trainingWeights } from '../../src/models/projection-init.ts';
import { createEmbedder } from '../../src/models/embedder.ts';
import type { Encoders } from '../../src/models/types.ts';
import { fitProjection, scoreSubset } from '../../src/train/fit.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { createRng } from '../../src/train/rng.ts';
import type { FeatureSubset } from '../../src/train/subset.ts';
import { judgeFineTune } from '../../src/train/zero-shot-gate.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());
const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger: silentLogger };
const close = (a: number[], digits = 5) => a.map((v) => expect.closeTo(v, digits));
const unit = (row: number[]) => {
  const n = Math.hypot(...row);
  return row.map((v) => v / n);
};

/** Same-width text and image features; `twist` rotates the text side away from the image side. */
function alignedSubset(n: number, dims: number, seed: number, twist = 0): FeatureSubset {
  const rng = createRng(seed);
  const image = Float32Array.from({ length: n * dims }, () => rng.normal());
  const text = image.map((v, k) => {
    // Rotate each consecutive pair of columns by `twist` radians, plus a little noise.
    const [r, j] = [Math.floor(k / dims), k % dims];
    const mate = image[r * dims + (j ^ 1)]!;
    const sign = j % 2 === 0 ? -1 : 1;
    return Math.cos(twist) * v + sign * Math.sin(twist) * mate + 0.05 * rng.normal();
  });
  return {
    text,
    image,
    textDims: dims,
    imageDims: dims,
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };
}

describe('projection start', () => {
  it('is the identity for pre-aligned profiles (clip) and random for the others', () => {
    expect([startOf('clip'), startOf('tiny'), startOf('bert-resnet')]).toEqual([
      'identity',
      'random',
      'random',
    ]);
  });

  it('from the identity maps each row to itself, L2-normalised, on both sides', async () => {
    const p = await createInitialProjection({ textDims: 4, imageDims: 4, start: 'identity', dims: 256 });
    const x = [3, 0, -4, 0, 1, 2, 2, -4];
    const expected = [...unit(x.slice(0, 4)), ...unit(x.slice(4))];
    expect({ dims: p.dims, trained: p.trained }).toEqual({ dims: 4, trained: false });
    expect(Array.from(await p.projectText(Float32Array.from(x), 2))).toEqual(close(expected));
    expect(Array.from(await p.projectImage(Float32Array.from(x), 2))).toEqual(close(expected));
    await p.close();
  });

  it('fingerprints the identity as identity-<hash> whatever the seed, and random starts by seed', async () => {
    const opts = { textDims: 6, imageDims: 6, dims: 4 };
    const ps = await Promise.all([
      createInitialProjection({ ...opts, start: 'identity', seed: 1 }),
      createInitialProjection({ ...opts, start: 'identity', seed: 2 }),
      createInitialProjection({ ...opts, seed: 1 }),
      createInitialProjection({ ...opts, start: 'random', seed: 1 }),
    ]);
    const [a, b, c, d] = ps.map((p) => p.fingerprint);
    expect(a).toMatch(/^identity-[0-9a-f]{12}$/);
    expect(b).toBe(a);
    expect(c).toMatch(/^initial-1-[0-9a-f]{12}$/);
    expect(d).toBe(c);
    await Promise.all(ps.map((p) => p.close()));
  });

  it('gives the embedder (and so every index) one fingerprint for the identity and another once trained', async () => {
    const encoders = {
      profile: 'clip',
      text: { dims: 6, fingerprint: 't' },
      image: { dims: 6, fingerprint: 'i' },
      close: async () => {},
    } as unknown as Encoders;
    const opts = { textDims: 6, imageDims: 6, start: 'identity' as const };
    const trainedWeights = createInitialWeights(opts);
    trainedWeights.text.w1[1] = 0.25;
    const ps = await Promise.all([
      createInitialProjection({ ...opts, seed: 1 }),
      createInitialProjection({ ...opts, seed: 7 }),
      projectionFromWeights(trainedWeights),
    ]);
    const [a, b, c] = ps.map((p) => createEmbedder(encoders, p).fingerprint);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(ps.map((p) => p.trained)).toEqual([false, false, true]);
    await Promise.all(ps.map((p) => p.close()));
  });

  it('refuses an identity start for encoders of different widths with MODEL_INVALID', () => {
    let error: unknown;
    try {
      createInitialWeights({ textDims: 6, imageDims: 9, start: 'identity' });
    } catch (e) {
      error = e;
    }
    expect(isAppError(error, 'MODEL_INVALID')).toBe(true);
  });

  it('fits standardisation for a random start only: rescaling CLIP axes would break its alignment', () => {
    const s = alignedSubset(20, 4, 3);
    const identity = trainingWeights({ textDims: 4, imageDims: 4, start: 'identity' }, s);
    const random = trainingWeights({ textDims: 4, imageDims: 4, dims: 4, start: 'random' }, s);
    expect(Array.from(identity.text.mean)).toEqual([0, 0, 0, 0]);
    expect(Array.from(identity.image.invStd)).toEqual([1, 1, 1, 1]);
    expect(Array.from(random.text.mean)).not.toEqual([0, 0, 0, 0]);
  });

  it('loads as the identity for clip with no weights on disk, and as the seeded one for tiny', async () => {
    const encoders = {
      profile: 'clip',
      text: { dims: 6, fingerprint: 't' },
      image: { dims: 6, fingerprint: 'i' },
      close: async () => {},
    } as unknown as Encoders;
    const clip = loadConfig({ env: {}, overrides: { DATA_DIR: temp.dir, MODELS: 'clip', DEVICE: 'cpu' } });
    const [a, b] = await Promise.all([
      loadProjection(clip, encoders, silentLogger),
      loadProjection(temp.config, encoders, silentLogger),
    ]);
    expect([a.fingerprint, a.trained, a.dims, a.weights.head]).toEqual([
      expect.stringMatching(/^identity-/),
      false,
      6,
      'linear',
    ]);
    expect([b.fingerprint, b.trained, b.dims, b.weights.head]).toEqual([
      expect.stringMatching(/^initial-42-/),
      false,
      256,
      'mlp',
    ]);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('fine-tuning from the identity', () => {
  it('AdamW decays towards its anchors, not towards zero', () => {
    const params = new Map([['text.w1', new Float32Array([1, 0])]]);
    const anchors = new Map([['text.w1', new Float32Array([1, 0])]]);
    const zero = new Map([['text.w1', new Float32Array([0, 0])]]);
    new AdamW({ weightDecay: 0.5, anchors }).step(params, zero, 0.1);
    expect(Array.from(params.get('text.w1')!)).toEqual([1, 0]);
    const free = new Map([['text.w1', new Float32Array([1, 0])]]);
    new AdamW({ weightDecay: 0.5 }).step(free, zero, 0.1);
    expect(Array.from(free.get('text.w1')!)).toEqual(close([0.95, 0]));
  });

  it('starts at zero-shot and improves on it when the spaces are slightly misaligned', async () => {
    const all = alignedSubset(320, 8, 5, 0.6);
    const pick = (from: number, to: number): FeatureSubset => ({
      ...all,
      text: all.text.slice(from * 8, to * 8),
      image: all.image.slice(from * 8, to * 8),
      captionImage: Int32Array.from({ length: to - from }, (_, i) => i),
      imageCaptions: Array.from({ length: to - from }, (_, i) => [i]),
    });
    const [train, val] = [pick(0, 256), pick(256, 320)];
    const identity = createInitialWeights({ textDims: 8, imageDims: 8, start: 'identity' });
    const zeroShot = await scoreSubset(identity, val, runtime);
    // One step at a vanishing rate: still the identity, so it scores exactly zero-shot.
    const still = await fitProjection(
      train,
      val,
      { start: 'identity', epochs: 1, batchSize: 256, lr: 1e-12 },
      runtime,
    );
    expect([still.weights.head, still.weights.dims]).toEqual(['linear', 8]);
    expect(Array.from(still.weights.text.w1)).toEqual(close(Array.from(identity.text.w1)));
    expect(still.validation).toEqual(zeroShot);
    const tuned = await fitProjection(
      train,
      val,
      { start: 'identity', epochs: 20, batchSize: 64, lr: 0.01 },
      runtime,
    );
    expect(judgeFineTune(tuned.validation, zeroShot).active).toBe(true);
    expect(tuned.validation!.t2i.r1).toBeGreaterThan(zeroShot.t2i.r1);
  });
});

describe('the zero-shot gate', () => {
  const scores = (r: number) => ({
    t2i: { r1: r, r5: r, r10: r },
    i2t: { r1: r, r5: r, r10: r },
  });
  it('activates a fine-tune only when it beats zero-shot on validation', () => {
    const metric = '(mean of R@1/5/10 both ways on validation)';
    expect([
      judgeFineTune(scores(0.6), scores(0.5)),
      judgeFineTune(scores(0.5), scores(0.5)),
      judgeFineTune(scores(0.4), scores(0.5)),
      judgeFineTune(undefined, scores(0.5)),
    ]).toEqual([
      {
        active: true,
        reason: `fine-tuned 0.6000 vs zero-shot 0.5000 ${metric}: the fine-tune beats zero-shot and is now active`,
      },
      {
        active: false,
        reason: `fine-tuned 0.5000 vs zero-shot 0.5000 ${metric}: the fine-tune is not better than zero-shot, so it is not made active`,
      },
      {
        active: false,
        reason: `fine-tuned 0.4000 vs zero-shot 0.5000 ${metric}: the fine-tune is not better than zero-shot, so it is not made active`,
      },
      {
        active: false,
        reason:
          'no validation split (at least 2 images) to compare the fine-tune with zero-shot, so the zero-shot identity stays active',
      },
    ]);
  });
});
