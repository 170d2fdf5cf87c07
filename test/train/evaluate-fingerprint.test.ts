import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { createInitialWeights, projectionDir, writeProjection } from '../../src/models/projection.ts';
import type { Encoders } from '../../src/models/types.ts';
import { evaluate } from '../../src/train/evaluate.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
let encoders: Encoders;
let manifestPath: string;

beforeAll(async () => {
  encoders = await loadEncoders(temp.config, silentLogger);
  ({ manifestPath } = await generateSampleData({ outDir: temp.config.paths.samples, n: 12, seed: 5 }));
});
afterAll(async () => {
  await encoders?.close();
  await temp.cleanup();
});

describe('eval applies the engine’s projection check', () => {
  const weights = () =>
    createInitialWeights({
      textDims: encoders.text.dims,
      imageDims: encoders.image.dims,
      dims: 8,
      head: 'linear',
      seed: 9,
    });

  it('does not score a projection fitted to other encoders of the same widths, and names it', async () => {
    const dir = projectionDir(temp.config);
    const header = await writeProjection(dir, weights(), { text: 'text-before', image: 'image-before' });
    const result = await evaluate(
      temp.config,
      { dataPath: manifestPath, split: 'all', encoders },
      silentLogger,
    );
    expect(result.trained).toBeUndefined();
    expect(result.refused).toEqual([
      { fingerprint: header.fingerprint, dir, reason: 'it was fitted to other encoders' },
    ]);
  });

  it('scores it once it was fitted to these encoders', async () => {
    const header = await writeProjection(projectionDir(temp.config), weights(), {
      text: encoders.text.fingerprint,
      image: encoders.image.fingerprint,
    });
    const result = await evaluate(
      temp.config,
      { dataPath: manifestPath, split: 'all', encoders },
      silentLogger,
    );
    expect({ trained: result.trained?.fingerprint, refused: result.refused }).toEqual({
      trained: header.fingerprint,
      refused: undefined,
    });
  });
});
