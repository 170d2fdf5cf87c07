import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { loadProjection } from '../../src/models/projection.ts';
import { evaluate } from '../../src/train/evaluate.ts';
import { trainProjection } from '../../src/train/train-projection.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());

describe('training on synthetic pairs', () => {
  it('lifts retrieval well above the untrained projection and changes the fingerprint', async () => {
    const { config } = temp;
    const encoders = await loadEncoders(config, silentLogger);
    try {
      const { manifestPath } = await generateSampleData({ outDir: config.paths.samples, n: 800, seed: 11 });
      const before = await loadProjection(config, encoders, silentLogger);
      await before.close();
      const { card, fingerprint } = await trainProjection(
        config,
        { dataPath: manifestPath, encoders, epochs: 20, batchSize: 128, seed: 1 },
        silentLogger,
      );
      expect(card.encoders.image.fingerprint).toBe(encoders.image.fingerprint);
      expect(card.data.train).toBeGreaterThan(500);

      const after = await loadProjection(config, encoders, silentLogger);
      expect(after).toMatchObject({ trained: true, fingerprint });
      expect(fingerprint).not.toBe(before.fingerprint);
      await after.close();

      const result = await evaluate(
        config,
        { dataPath: manifestPath, split: 'test', encoders },
        silentLogger,
      );
      const { trained, untrained } = result;
      expect(trained?.fingerprint).toBe(fingerprint);
      // Margins well inside what this set reaches (about 4-8x untrained P@10), far above noise.
      expect(trained!.t2i.p10!).toBeGreaterThan(2.5 * untrained.t2i.p10!);
      expect(trained!.i2t.p10!).toBeGreaterThan(2.5 * untrained.i2t.p10!);
      expect(trained!.t2i.r10).toBeGreaterThan(untrained.t2i.r10 + 0.15);
      expect(trained!.i2t.r10).toBeGreaterThan(untrained.i2t.r10 + 0.15);
    } finally {
      await encoders.close();
    }
  });
});
