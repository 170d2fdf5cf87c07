import { describe, expect, it } from 'vitest';
import { precisionAtK, rankExact, recallAtK, retrievalScores } from '../../src/train/metrics.ts';
import { satisfies, type Scene } from '../../src/train/synthetic/scene.ts';

describe('retrieval metrics', () => {
  it('ranks by exact inner product, best first', () => {
    const keys = new Float32Array([1, 0, 0, 1, 0.6, 0.8]);
    const ranked = rankExact(new Float32Array([0.8, 0.6]), keys, 2, 3);
    expect(Array.from(ranked[0]!)).toEqual([2, 0, 1]); // 0.96, 0.8, 0.6
  });

  it('computes Recall@K and Precision@K on a hand-made ranking', () => {
    const ranked = [Int32Array.from([3, 1, 2]), Int32Array.from([0, 2, 1]), Int32Array.from([2, 0, 1])];
    const target = [1, 1, 0];
    const hit = (q: number, item: number) => target[q] === item;
    expect(recallAtK(ranked, hit, 1)).toBeCloseTo(0); // no query has its target first
    expect(recallAtK(ranked, hit, 2)).toBeCloseTo(2 / 3); // queries 0 and 2
    expect(recallAtK(ranked, hit, 3)).toBeCloseTo(1);
    const even = (_q: number, item: number) => item % 2 === 0;
    // query 0: [3,1] -> 0 hits; query 1: [0,2] -> 2; query 2: [2,0] -> 2  => (0 + 1 + 1) / 3
    expect(precisionAtK(ranked, even, 2)).toBeCloseTo(2 / 3);
    expect(precisionAtK(ranked, even, 2, [1])).toBeCloseTo(1);
  });

  it('uses the COCO definitions: t2i needs the own image, i2t any own caption', () => {
    // 2 images, 4 captions (0,1 -> image 0; 2,3 -> image 1), 2-d unit vectors.
    const imageVectors = new Float32Array([1, 0, 0, 1]);
    // caption 1 points at image 1 although it belongs to image 0.
    const textVectors = new Float32Array([1, 0, 0, 1, 0, 1, 0.6, 0.8]);
    const s = retrievalScores({
      textVectors,
      imageVectors,
      dims: 2,
      captionImage: Int32Array.from([0, 0, 1, 1]),
    });
    expect(s.t2i.r1).toBeCloseTo(3 / 4);
    expect(s.t2i.r5).toBeCloseTo(1);
    // image 0's top caption is caption 0 (its own); image 1's top is caption 1 or 2 (score 1, tie -> lower id 1: not its own).
    expect(s.i2t.r1).toBeCloseTo(1 / 2);
    expect(s.i2t.r5).toBeCloseTo(1);
  });

  it('counts an attribute hit when the image satisfies every attribute the caption names', () => {
    const scene: Scene = {
      background: 'grey',
      objects: [
        { shape: 'circle', colour: 'red', size: 'small', position: 'left' },
        { shape: 'square', colour: 'blue', size: 'large', position: 'right' },
      ],
    };
    expect(satisfies(scene, { objects: [{ colour: 'red', shape: 'circle' }] })).toBe(true);
    expect(satisfies(scene, { objects: [{ colour: 'red', shape: 'square' }] })).toBe(false); // binding matters
    expect(satisfies(scene, { objects: [{ colour: 'blue' }, { shape: 'circle', position: 'left' }] })).toBe(
      true,
    );
    expect(satisfies(scene, { objects: [{ colour: 'red' }, { colour: 'red' }] })).toBe(false); // two distinct objects
    expect(satisfies(scene, { count: 3, objects: [{ colour: 'red' }] })).toBe(false);
  });

  it('computes attribute Precision@10 per direction and per attribute type', () => {
    const scenes: Scene[] = [
      { background: 'grey', objects: [{ shape: 'circle', colour: 'red', size: 'small', position: 'left' }] },
      { background: 'grey', objects: [{ shape: 'circle', colour: 'blue', size: 'small', position: 'left' }] },
    ];
    const named = [
      { objects: [{ colour: 'red' as const, shape: 'circle' as const }] },
      { objects: [{ shape: 'circle' as const }] },
    ];
    // With only 2 images every ranking is the whole gallery, so P@10 = hits / 2: the chance share.
    const s = retrievalScores({
      textVectors: new Float32Array([1, 0, 0, 1]),
      imageVectors: new Float32Array([1, 0, 0, 1]),
      dims: 2,
      captionImage: Int32Array.from([0, 1]),
      scenes,
      named,
    });
    expect(s.t2i.p10).toBeCloseTo((1 / 2 + 2 / 2) / 2); // caption 0 fits image 0; caption 1 fits both
    expect(s.i2t.p10).toBeCloseTo((2 / 2 + 1 / 2) / 2); // image 0 fits both captions; image 1 only caption 1
    expect(s.t2i.p10Chance).toBeCloseTo((1 / 2 + 2 / 2) / 2);
    expect(s.t2i.p10Chance).toBeCloseTo(s.t2i.p10!);
    expect(s.perAttribute?.['colour']).toMatchObject({ t2i: 1 / 2, captions: 1 });
    expect(s.perAttribute?.['shape']?.t2i).toBeCloseTo(2 / 2);
    // i2t, colour: only caption 0 names a colour; image 0 satisfies it, image 1 does not.
    expect(s.perAttribute?.['colour']?.i2t).toBeCloseTo(1 / 2);
  });
});
