import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { weightsHash } from '../../src/models/projection.ts';
import { fitProjection } from '../../src/train/fit.ts';
import { createRng } from '../../src/train/rng.ts';
import type { FeatureSubset } from '../../src/train/subset.ts';

function randomPairs(n: number, dims: number, seed: number): FeatureSubset {
  const rng = createRng(seed);
  return {
    text: Float32Array.from({ length: n * dims }, () => rng.normal()),
    image: Float32Array.from({ length: n * dims }, () => rng.normal()),
    textDims: dims,
    imageDims: dims,
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };
}

describe('training is independent of the host’s core count', () => {
  it('gives the same weights (and fingerprint) at 1, 3 and 8 ORT intra-op threads', async () => {
    const train = randomPairs(512, 256, 1);
    const val = randomPairs(40, 256, 2);
    const hashes: string[] = [];
    for (const intraOpThreads of [1, 3, 8]) {
      const runtime = { device: 'cpu' as const, intraOpThreads, interOpThreads: 1, logger: silentLogger };
      const fit = await fitProjection(
        train,
        val,
        { dims: 64, hiddenDims: 512, epochs: 1, batchSize: 256, seed: 3 },
        runtime,
      );
      hashes.push(weightsHash(fit.weights));
    }
    expect(new Set(hashes).size).toBe(1);
  });
});
