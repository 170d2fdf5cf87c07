import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { retrievalScores } from '../../src/train/metrics.ts';
import { ensureTrainingData } from '../../src/train/train-projection.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());

const manifestOf = (p: string) => readFile(p, 'utf8');

describe('the synthetic training set follows --train-images and --seed', () => {
  it('is reused as it is, and generated again for another size or seed', async () => {
    const first = await ensureTrainingData(temp.config, { n: 12 });
    expect({ count: first.count, generated: first.generated }).toEqual({ count: 12, generated: true });
    const same = await ensureTrainingData(temp.config, { n: 12 });
    expect(same).toEqual({ manifestPath: first.manifestPath, count: 12, generated: false });

    const bigger = await ensureTrainingData(temp.config, { n: 16 });
    expect({ count: bigger.count, generated: bigger.generated }).toEqual({ count: 16, generated: true });
    expect(bigger.replaced).toContain('"n":12');
    const before = await manifestOf(bigger.manifestPath);

    const otherSeed = loadConfig({
      env: {},
      overrides: { DATA_DIR: temp.dir, LOG_LEVEL: 'silent', SEED: temp.config.seed + 7 },
    });
    const reseeded = await ensureTrainingData(otherSeed, { n: 16 });
    expect({ count: reseeded.count, generated: reseeded.generated }).toEqual({ count: 16, generated: true });
    expect(await manifestOf(reseeded.manifestPath)).not.toBe(before);
  });
});

describe('images without captions in the evaluation gallery', () => {
  it('stay as text->image distractors and are not image->text queries', () => {
    // Images 0 and 1 have one caption each; image 2 has none and sits closest to caption 1.
    const s = retrievalScores({
      imageVectors: new Float32Array([1, 0, 0, 1, 0.6, 0.8]),
      textVectors: new Float32Array([1, 0, 0.6, 0.8]),
      dims: 2,
      captionImage: Int32Array.from([0, 1]),
    });
    // t2i: caption 0 finds image 0 first; caption 1 finds the distractor first, its image second.
    expect(s.t2i).toEqual({ r1: 0.5, r5: 1, r10: 1 });
    // i2t over the two captioned images only: image 0 -> caption 0; image 1 -> caption 1.
    expect(s.i2t).toEqual({ r1: 1, r5: 1, r10: 1 });
  });
});
