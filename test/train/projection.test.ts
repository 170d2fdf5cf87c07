import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import {
  createInitialProjection,
  createInitialWeights,
  loadProjection,
  projectionDir,
  projectionFromWeights,
  readProjection,
  writeProjection,
  activeProjectionDir,
} from '../../src/models/projection.ts';
import type { Encoders } from '../../src/models/types.ts';
import { createRng } from '../../src/train/rng.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());

const rows = (v: Float32Array, dims: number) =>
  Array.from({ length: v.length / dims }, (_, r) => v.subarray(r * dims, (r + 1) * dims));
const norm = (row: Float32Array) => Math.sqrt(row.reduce((s, x) => s + x * x, 0));
const features = (n: number, dims: number, seed = 1) => {
  const rng = createRng(seed);
  return Float32Array.from({ length: n * dims }, () => rng.normal() * 3 + 1);
};
/** Only dims and fingerprints matter to loadProjection. */
const encodersLike = (textDims: number, imageDims: number, text = 'text-fp', image = 'image-fp') =>
  ({
    profile: 'tiny',
    text: { dims: textDims, fingerprint: text },
    image: { dims: imageDims, fingerprint: image },
    close: async () => {},
  }) as unknown as Encoders;

describe.each(['mlp', 'linear'] as const)('projection (%s head)', (head) => {
  it('maps both modalities to unit-norm rows of the shared dimension', async () => {
    const p = await createInitialProjection({ textDims: 12, imageDims: 20, dims: 8, head, seed: 3 });
    const t = await p.projectText(features(5, 12), 5);
    const i = await p.projectImage(features(7, 20), 7);
    expect(t).toHaveLength(5 * 8);
    expect(i).toHaveLength(7 * 8);
    for (const row of [...rows(t, 8), ...rows(i, 8)]) expect(norm(row)).toBeCloseTo(1, 5);
    expect(await p.projectText(new Float32Array(0), 0)).toHaveLength(0);
    expect(p.trained).toBe(false);
    expect(p.fingerprint).toMatch(/^initial-3-[0-9a-f]{12}$/);
    await p.close();
  });
});

describe('projection weights', () => {
  it('are seeded: same seed same fingerprint, another seed another', async () => {
    const opts = { textDims: 6, imageDims: 9, dims: 4 };
    const [a, b, c] = await Promise.all([
      createInitialProjection({ ...opts, seed: 1 }),
      createInitialProjection({ ...opts, seed: 1 }),
      createInitialProjection({ ...opts, seed: 2 }),
    ]);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('refuse features of the wrong length with INVALID_INPUT', async () => {
    const p = await createInitialProjection({ textDims: 6, imageDims: 9, dims: 4 });
    await expect(p.projectText(new Float32Array(7), 1)).rejects.toSatisfy((e) =>
      isAppError(e, 'INVALID_INPUT'),
    );
    await p.close();
  });

  it('round-trip through the file format and give the same vectors', async () => {
    const w = createInitialWeights({ textDims: 6, imageDims: 9, dims: 4, hiddenDims: 16, seed: 8 });
    w.image.mean = features(1, 9, 4);
    const dir = path.join(temp.dir, 'roundtrip');
    const header = await writeProjection(dir, w, { text: 't', image: 'i' });
    const back = await readProjection(dir);
    expect(back?.header.fingerprint).toBe(header.fingerprint);
    const [p, q] = await Promise.all([projectionFromWeights(w), projectionFromWeights(back!.weights)]);
    expect(Array.from(await q.projectImage(features(3, 9), 3))).toEqual(
      Array.from(await p.projectImage(features(3, 9), 3)),
    );
    await Promise.all([p.close(), q.close()]);
  });

  it('report a damaged weights file as MODEL_INVALID', async () => {
    const dir = path.join(temp.dir, 'damaged');
    await writeProjection(dir, createInitialWeights({ textDims: 6, imageDims: 9, dims: 4 }));
    await writeFile(path.join(await activeProjectionDir(dir), 'weights.bin'), Buffer.alloc(40));
    await expect(readProjection(dir)).rejects.toSatisfy((e) => isAppError(e, 'MODEL_INVALID'));
  });

  it('load as the trained projection for matching encoders, and as the initial one otherwise', async () => {
    const config = temp.config;
    const none = await loadProjection(config, encodersLike(6, 9), silentLogger);
    expect(none.trained).toBe(false);
    await none.close();
    const header = await writeProjection(
      projectionDir(config),
      createInitialWeights({ textDims: 6, imageDims: 9, dims: 4, seed: 77 }),
      { text: 'text-fp', image: 'image-fp' },
    );
    const trained = await loadProjection(config, encodersLike(6, 9), silentLogger);
    expect(trained).toMatchObject({ trained: true, fingerprint: header.fingerprint, dims: 4 });
    expect(trained.fingerprint).not.toBe(none.fingerprint);
    await trained.close();
    const stale = await loadProjection(config, encodersLike(6, 9, 'other-text-model'), silentLogger);
    expect(stale.trained).toBe(false);
    await stale.close();
  });
});
