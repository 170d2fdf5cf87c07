import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { classifierFingerprint, readClassifier } from '../../src/models/classifier-store.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { matchExamples } from '../../src/train/synthetic/tasks.ts';
import { satisfies, sampleScene } from '../../src/train/synthetic/scene.ts';
import { createRng } from '../../src/train/rng.ts';
import { classifierDir, trainClassifier } from '../../src/train/train-classifier.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());

describe('match examples', () => {
  it('pair every true description with a hard negative that the scene contradicts', () => {
    const rng = createRng(3);
    for (let i = 0; i < 200; i++) {
      const scene = sampleScene(rng);
      const examples = matchExamples(rng, scene, 3);
      expect(examples.filter((e) => e.label === 1)).toHaveLength(3);
      expect(examples.filter((e) => e.label === 0).length).toBeGreaterThanOrEqual(2);
      for (const e of examples) expect(e.kind === 'true').toBe(e.label === 1);
    }
    // The negative really is false for its scene: re-derive one by hand.
    const scene = {
      background: 'white' as const,
      objects: [
        {
          shape: 'circle' as const,
          colour: 'red' as const,
          size: 'small' as const,
          position: 'left' as const,
        },
      ],
    };
    expect(satisfies(scene, { objects: [{ ...scene.objects[0]!, colour: 'blue' }] })).toBe(false);
  });
});

describe('training the fusion classifier on synthetic data', () => {
  it(
    'raises held-out match accuracy well above chance and commits weights with a card',
    { timeout: 400_000 },
    async () => {
      const { config } = temp;
      const encoders = await loadEncoders(config, silentLogger);
      try {
        const { manifestPath } = await generateSampleData({ outDir: config.paths.samples, n: 800, seed: 11 });
        const { card, dir } = await trainClassifier(
          config,
          { task: 'match', dataPath: manifestPath, encoders, epochs: 20, seed: 1 },
          silentLogger,
        );
        expect(dir).toBe(classifierDir(config, 'match'));
        expect(card).toMatchObject({
          task: 'match',
          profile: 'tiny',
          labels: ['mismatch', 'match'],
          head: { fusion: 'sum', inputs: 'both', hiddenDims: 128, dropout: 0.1 },
          encoders: {
            text: { fingerprint: encoders.text.fingerprint, dims: encoders.text.dims },
            image: { fingerprint: encoders.image.fingerprint, dims: encoders.image.dims },
          },
        });
        // Balanced labels: chance is 50% (ROC-AUC 0.5); this seed reaches ROC-AUC 0.678 on 800 images.
        expect(card.data.examples.test).toBeGreaterThan(500);
        expect(card.scores.test.accuracy).toBeGreaterThan(0.6);
        expect(card.scores.test.rocAuc!).toBeGreaterThan(0.65);

        const stored = await readClassifier(dir);
        expect(stored?.fingerprint).toBe(card.fingerprint);
        expect(stored?.card).toEqual(card);
        // The fingerprint covers the encoders: the same weights fitted to other features differ.
        expect(
          classifierFingerprint(stored!.weights, { text: 'other', image: encoders.image.fingerprint }),
        ).not.toBe(card.fingerprint);

        // One flipped weight: refused as damaged, never served.
        const bin = path.join(dir, 'versions', card.fingerprint, 'weights.bin');
        const bytes = await readFile(bin);
        bytes[100] = bytes[100]! ^ 0xff;
        await writeFile(bin, bytes);
        await expect(readClassifier(dir)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
      } finally {
        await encoders.close();
      }
    },
  );

  it('reads as untrained (undefined) where no classifier was ever written', async () => {
    expect(await readClassifier(classifierDir(temp.config, 'attribute'))).toBeUndefined();
  });
});
