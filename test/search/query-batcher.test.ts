import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { decodeImage } from '../../src/media/image-decode.ts';
import { openEmbedder } from '../../src/models/open-embedder.ts';
import type { Embedder, PixelTensor } from '../../src/models/types.ts';
import { embedText, type QueryEncoderDeps } from '../../src/search/encode-query.ts';
import { QueryBatcher } from '../../src/search/query-batcher.ts';

// Real tiny encoders and projection; only the batching around them is under test.

const TEXTS = [
  'a red circle on a white background',
  'blue square',
  'two small green triangles in the upper left corner of the picture',
  'star',
  'a large purple hexagon and a yellow ring',
];

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('query batching', () => {
  let dataDir: string;
  let embedder: Embedder;
  let pixels: PixelTensor[];
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'query-batcher-'));
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
    ({ embedder } = await openEmbedder(config, silentLogger, closers));
    const limits = { maxBytes: 1 << 24, maxPixels: 1 << 24 };
    pixels = await Promise.all(
      [
        [200, 30, 30],
        [30, 200, 30],
        [30, 30, 200],
        [240, 240, 20],
      ].map(async ([r, g, b], i) => {
        const png = await sharp({
          create: { width: 80 + 10 * i, height: 60, channels: 3, background: { r: r!, g: g!, b: b! } },
        })
          .png()
          .toBuffer();
        return decodeImage(png, embedder.preprocess, limits);
      }),
    );
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs concurrent text queries as one encoder call, each getting the vector it gets alone', async () => {
    const runs: number[] = [];
    const batcher = new QueryBatcher(embedder, { windowMs: 50, maxBatch: 32 }, (kind, n) => {
      if (kind === 'text') runs.push(n);
    });
    const batched = await Promise.all(TEXTS.map((t) => batcher.text(t)));
    expect(runs).toEqual([TEXTS.length]);
    for (const [i, text] of TEXTS.entries()) {
      const { vectors } = await embedder.embedTexts([text]);
      expect(batched[i]).toHaveLength(embedder.dims);
      expect(maxAbsDiff(batched[i]!, vectors[0]!), text).toBeLessThan(1e-5);
    }
  });

  it('runs a full batch at once and gathers the queries that arrive during a run into the next', async () => {
    const runs: number[] = [];
    // A window far longer than the test's timeout: only the batch cap and the end of the previous run start a run.
    const batcher = new QueryBatcher(embedder, { windowMs: 3_600_000, maxBatch: 3 }, (_, n) => runs.push(n));
    const vectors = await Promise.all([...TEXTS, TEXTS[0]!].map((t) => batcher.text(t)));
    expect(runs).toEqual([3, 3]);
    expect(vectors[5]).toEqual(vectors[0]);
  });

  it('batches image queries the same way', async () => {
    const runs: number[] = [];
    const batcher = new QueryBatcher(embedder, { windowMs: 50, maxBatch: 32 }, (kind, n) => runs.push(n));
    const batched = await Promise.all(pixels.map((p) => batcher.image(p)));
    expect(runs).toEqual([pixels.length]);
    for (const [i, p] of pixels.entries()) {
      const [alone] = await embedder.embedPixels([p]);
      expect(maxAbsDiff(batched[i]!, alone!)).toBeLessThan(1e-5);
    }
    // Different images, different vectors: the rows were not mixed up.
    expect(maxAbsDiff(batched[0]!, batched[1]!)).toBeGreaterThan(1e-3);
  });

  it('fails only the query whose input is bad; the others in its batch get their vectors', async () => {
    const batcher = new QueryBatcher(embedder, { windowMs: 50, maxBatch: 32 });
    const bad: PixelTensor = { ...pixels[0]!, width: 10, height: 10, data: new Float32Array(300) };
    const results = await Promise.allSettled([
      batcher.image(pixels[0]!),
      batcher.image(bad),
      batcher.image(pixels[2]!),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (results[1] as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_INPUT');
    const [first, third] = await embedder.embedPixels([pixels[0]!, pixels[2]!]);
    expect(maxAbsDiff((results[0] as PromiseFulfilledResult<Float32Array>).value, first!)).toBeLessThan(1e-5);
    expect(maxAbsDiff((results[2] as PromiseFulfilledResult<Float32Array>).value, third!)).toBeLessThan(1e-5);
  });

  it('is what the query encoder uses when the engine is given one, and counts runs instead of queries', async () => {
    const calls: [string, number][] = [];
    const onEncode = (kind: 'text' | 'image', n: number) => calls.push([kind, n]);
    const deps = {
      embedder,
      onEncode,
      batcher: new QueryBatcher(embedder, { windowMs: 50, maxBatch: 32 }, onEncode),
    } as unknown as QueryEncoderDeps;
    const vectors = await Promise.all(TEXTS.slice(0, 3).map((t) => embedText(t, deps)));
    expect(calls).toEqual([['text', 3]]);
    const { vectors: alone } = await embedder.embedTexts(TEXTS.slice(0, 3));
    vectors.forEach((v, i) => expect(maxAbsDiff(v, alone[i]!)).toBeLessThan(1e-5));
  });

  it('is configured by QUERY_BATCH_WINDOW_MS (0 = off) and QUERY_BATCH_MAX, refusing values out of range', () => {
    expect(loadConfig({ env: {} }).queryBatch).toEqual({ windowMs: 2, maxBatch: 32 });
    expect(loadConfig({ env: { QUERY_BATCH_WINDOW_MS: '0', QUERY_BATCH_MAX: '8' } }).queryBatch).toEqual({
      windowMs: 0,
      maxBatch: 8,
    });
    expect(() => loadConfig({ env: { QUERY_BATCH_WINDOW_MS: '-1', QUERY_BATCH_MAX: '0' } })).toThrow(
      /QUERY_BATCH_WINDOW_MS[\s\S]*QUERY_BATCH_MAX/,
    );
  });
});
