import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { benchmarkScores, PUBLISHED } from '../../src/train/benchmark.ts';
import { formatBenchmark } from '../../scripts/lib/benchmark-table.ts';
import { evaluateBenchmark } from '../../src/train/benchmark-eval.ts';
import { writeKarpathyFixture } from '../media/karpathy-fixture.ts';
import { tempConfig } from './helpers.ts';

/**
 * A planted ranking: image i is the basis vector e_i; each caption's raw inner products with the
 * four images are written out, so every hit below can be checked by hand.
 */
const captions = [
  [1, 0, 0, 0], // c0, image 0: I0 first -> hit
  [0.4, 0.9, 0.1, 0], // c1, image 0: I1 first -> miss (own image 2nd)
  [0.1, 0.8, 0, 0.05], // c2, image 1: hit
  [0, 0.3, 0.9, 0.1], // c3, image 1: I2 first -> miss; within fold A (I0, I1) -> hit
  [0, 0, 0.8, 0.1], // c4, image 2: hit
  [0.05, 0, 0.7, 0.3], // c5, image 2: hit
  [0.9, 0, 0, 0.2], // c6, image 3: I0 first -> miss; within fold B (I2, I3) -> hit
  [0, 0.05, 0.1, 0.9], // c7, image 3: hit
];
const planted = {
  dims: 4,
  textVectors: Float32Array.from(captions.flat()),
  imageVectors: Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]),
  captionImage: Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]),
};

describe('benchmark metrics on a planted ranking', () => {
  it('scores R@1/5/10 both ways and RSUM over the whole set', () => {
    // t2i: c0 c2 c4 c5 c7 hit = 5/8. i2t by caption column: I0 -> c0 (own), I1 -> c1 (image 0's),
    // I2 -> c3 (image 1's), I3 -> c7 (own) = 2/4. Four images: every own item is in the top 5.
    expect(benchmarkScores(planted)).toEqual({
      t2i: { r1: 0.625, r5: 1, r10: 1 },
      i2t: { r1: 0.5, r5: 1, r10: 1 },
      rsum: 512.5,
      folds: 1,
    });
  });

  it('averages folds the COCO 1K way: each fold ranks only its own images and captions', () => {
    // Fold A (I0, I1; c0-c3): t2i 3/4, i2t 1/2 (I1 still prefers c1). Fold B (I2, I3; c4-c7): 1, 1.
    expect(benchmarkScores(planted, 2)).toEqual({
      t2i: { r1: 0.875, r5: 1, r10: 1 },
      i2t: { r1: 0.75, r5: 1, r10: 1 },
      rsum: 562.5,
      folds: 2,
    });
  });

  it('refuses folds that do not cut the images evenly', () => {
    expect(() => benchmarkScores(planted, 3)).toThrow(/4 images cannot be cut into 3 equal folds/);
  });
});

const temp = await tempConfig();
afterAll(() => temp.cleanup());

describe('evaluateBenchmark on a Karpathy-format fixture (tiny profile, real ONNX)', () => {
  it('runs coco1k on the test split of dataset_coco.json and on a JSONL manifest with metadata.split', async () => {
    const { config, dir } = temp;
    const splits = [...Array(10).fill('test'), 'train', 'restval', 'val'] as string[];
    const fixture = await writeKarpathyFixture(path.join(dir, 'karpathy'), splits);
    const encoders = await loadEncoders(config, silentLogger);
    try {
      const result = await evaluateBenchmark(
        config,
        { benchmark: 'coco1k', dataPath: fixture.file, imagesDir: fixture.images, encoders },
        silentLogger,
      );
      expect(result).toMatchObject({ benchmark: 'coco1k', profile: 'tiny', images: 10, captions: 50 });
      expect(result.published).toEqual([]);
      expect(result.notes).toEqual([
        '10 test images where the published protocol has 5000: not comparable to the published rows',
      ]);
      expect(result.rows.map((r) => [r.projection, r.folds])).toEqual([['untrained', 5]]);
      const row = result.rows[0]!;
      expect(row.rsum).toBeCloseTo(
        100 * (row.t2i.r1 + row.t2i.r5 + row.t2i.r10 + row.i2t.r1 + row.i2t.r5 + row.i2t.r10),
        9,
      );
      // Folds of two images: a caption's own image is always in its top 5.
      expect([row.t2i.r5, row.t2i.r10, row.i2t.r5, row.i2t.r10]).toEqual([1, 1, 1, 1]);

      // The same protocol over a manifest: the test rows are the Karpathy test images, so the
      // scores are identical.
      const manifest = path.join(fixture.images, 'manifest.jsonl');
      const lines = fixture.entries.map((e) =>
        JSON.stringify({
          image: `${e.filepath}/${e.filename}`,
          captions: e.sentences.map((s) => s.raw),
          metadata: { split: e.split },
        }),
      );
      await writeFile(manifest, `${lines.join('\n')}\n`);
      const fromManifest = await evaluateBenchmark(
        config,
        { benchmark: 'coco1k', dataPath: manifest, encoders },
        silentLogger,
      );
      expect(fromManifest.rows).toEqual(result.rows);

      const small = await writeKarpathyFixture(path.join(dir, 'small'), ['test', 'test', 'test']);
      await expect(
        evaluateBenchmark(config, { benchmark: 'coco1k', dataPath: small.file, encoders }, silentLogger),
      ).rejects.toSatisfy((e) => isAppError(e, 'INVALID_INPUT'));
    } finally {
      await encoders.close();
    }
  });
});

describe('the benchmark table', () => {
  it('puts the published CLIP numbers and their source beside ours', () => {
    const table = formatBenchmark({
      benchmark: 'flickr30k',
      profile: 'clip',
      images: 1000,
      captions: 5000,
      notes: [],
      published: PUBLISHED['clip']!['flickr30k']!,
      rows: [
        {
          projection: 'zero-shot',
          fingerprint: 'identity-1',
          t2i: { r1: 0.5, r5: 0.75, r10: 0.875 },
          i2t: { r1: 0.625, r5: 0.875, r10: 1 },
          rsum: 462.5,
          folds: 1,
        },
      ],
    });
    expect(table.split('\n')).toEqual([
      'flickr30k (profile clip): 1000 test images, 5000 captions',
      '',
      'model                                        text->image R@1/5/10   image->text R@1/5/10    RSUM',
      'ours: zero-shot identity-1                    50.0  75.0  87.5      62.5  87.5 100.0   462.5',
      'published: CLIP ViT-B/32 zero-shot [1]        58.8  83.6  90.0      78.9  94.9  98.2   504.4',
      '',
      '[1] open_clip retrieval results table, github.com/mlfoundations/open_clip docs/openclip_retrieval_results.csv (ViT-B-32, openai)',
    ]);
  });
});
