import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startApp, type App } from '../../src/main.ts';
import { loadEncoders } from '../../src/models/load.ts';
import {
  createInitialWeights,
  loadProjection,
  projectionDir,
  writeProjection,
} from '../../src/models/projection.ts';
import { validationScore } from '../../src/train/fit.ts';
import { trainProjection } from '../../src/train/train-projection.ts';
import { rejectedDir } from '../../src/train/zero-shot-gate.ts';
import { indexSamples } from '../api/fixture.ts';
import {
  COLOURS,
  cosine,
  embeddingOf,
  meanRgb,
  PALETTE,
  writeClipStandIn,
  writeColourPhotos,
} from './clip-stand-in.ts';

/**
 * The clip profile works before any training: with no projection weights on disk it uses the
 * identity, so search ranks exactly as CLIP's own cosine of text_embeds and image_embeds does.
 * The towers are a stand-in (clip-stand-in.ts) whose caption i and photo i embed identically.
 */

const colours = Object.keys(COLOURS);
let dataDir: string;
let config: Readonly<Config>;
let photos: Record<string, string>;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'zero-shot-'));
  await writeClipStandIn(dataDir);
  photos = await writeColourPhotos(path.join(dataDir, 'photos'));
  config = loadConfig({
    env: {},
    overrides: {
      DATA_DIR: dataDir,
      MODELS: 'clip',
      DEVICE: 'cpu',
      LOG_LEVEL: 'silent',
      PORT: 0,
      HOST: '127.0.0.1',
    },
  });
}, 60_000);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('untrained clip profile: zero-shot search through the real engine', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(config, silentLogger);
    await indexSamples(app, path.join(dataDir, 'photos'));
  }, 120_000);
  afterAll(async () => {
    await app?.close();
  });

  async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const response = await fetch(`${app.server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: T; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data as T;
  }

  it('uses the identity projection, marked untrained, at the encoders width', async () => {
    const { indexInfo } = await gql<{ indexInfo: Record<string, unknown> }>(
      '{ indexInfo { images profile projection projectionTrained dims } }',
    );
    expect(indexInfo).toEqual({
      images: colours.length,
      profile: 'clip',
      projection: expect.stringMatching(/^identity-[0-9a-f]{12}$/),
      projectionTrained: false,
      dims: 8,
    });
  });

  it("ranks each caption's own photo first, every photo in CLIP's cosine order", async () => {
    const query = `query ($text: String!) {
      searchImages(text: $text, first: 10) { edges { score node { uri } } }
    }`;
    const photoEmbeddings = new Map<string, number[]>();
    for (const c of colours)
      photoEmbeddings.set(c, embeddingOf(await meanRgb(path.join(dataDir, 'photos', photos[c]!))));
    for (const colour of colours) {
      const { searchImages } = await gql<{
        searchImages: { edges: { score: number; node: { uri: string } }[] };
      }>(query, { text: `a ${colour} photo` });
      // The ranking CLIP zero-shot gives: cosine of the caption's and each photo's embedding.
      const expected = colours
        .map((other) => ({
          other,
          score: cosine(embeddingOf(COLOURS[colour]!), photoEmbeddings.get(other)!),
        }))
        .sort((a, b) => b.score - a.score);
      expect(searchImages.edges.map((e) => ({ file: path.basename(e.node.uri), score: e.score }))).toEqual(
        expected.map((x) => ({ file: photos[x.other], score: expect.closeTo(x.score, 3) })),
      );
      expect(path.basename(searchImages.edges[0]!.node.uri)).toBe(photos[colour]);
    }
  });
});

describe('fine-tuning a pre-aligned profile', () => {
  it('keeps zero-shot active when the fine-tune does not beat it on validation, and eval shows both', async () => {
    // Train on four pairs, validate on two; zero-shot is already perfect there, so no fine-tune can win.
    const manifest = path.join(dataDir, 'pairs.jsonl');
    const split = (c: string) => (['purple', 'black'].includes(c) ? 'val' : 'train');
    await writeFile(
      manifest,
      colours
        .map((c) =>
          JSON.stringify({
            image: `photos/${photos[c]}`,
            captions: [`a ${c} photo`],
            metadata: { split: split(c) },
          }),
        )
        .join('\n'),
    );
    const encoders = await loadEncoders(config, silentLogger);
    try {
      const before = await loadProjection(config, encoders, silentLogger);
      await before.close();
      const { card } = await trainProjection(
        config,
        { dataPath: manifest, encoders, epochs: 2 },
        silentLogger,
      );
      expect({
        start: card.start,
        active: card.active,
        head: card.projection.head,
        dims: card.projection.dims,
        zeroShotR1: [card.zeroShot?.t2i.r1, card.zeroShot?.i2t.r1],
        reason: card.reason,
      }).toEqual({
        start: 'identity',
        active: false,
        head: 'linear',
        dims: 8,
        zeroShotR1: [1, 1],
        reason: expect.stringMatching(
          /^fine-tuned \d\.\d{4} vs zero-shot 1\.0000 \(mean of R@1\/5\/10 both ways on validation\): the fine-tune is not better than zero-shot, so it is not made active$/,
        ),
      });
      // Versioned folders (projection-store.ts): `active` names the committed projection.
      expect(existsSync(path.join(rejectedDir(projectionDir(config)), 'active'))).toBe(true);
      expect(existsSync(path.join(projectionDir(config), 'active'))).toBe(false);
      const after = await loadProjection(config, encoders, silentLogger);
      expect({ fingerprint: after.fingerprint, trained: after.trained }).toEqual({
        fingerprint: before.fingerprint,
        trained: false,
      });
      await after.close();
    } finally {
      await encoders.close();
    }

    const tsx = path.resolve('node_modules/.bin/tsx');
    const { stdout } = await promisify(execFile)(
      tsx,
      [path.resolve('scripts/eval.ts'), '--data', manifest, '--split', 'val'],
      { env: { ...process.env, DATA_DIR: dataDir, MODELS: 'clip', DEVICE: 'cpu', LOG_LEVEL: 'silent' } },
    );
    // Printed so the side-by-side table can be read in the test log.
    console.log(stdout);
    const rows = stdout.split('\n').filter((l) => /^(zero-shot|fine-tuned\*) /.test(l));
    expect(rows.map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['zero-shot', 't2i', '100.0%'],
      ['zero-shot', 'i2t', '100.0%'],
      ['fine-tuned*', 't2i', expect.stringMatching(/%$/)],
      ['fine-tuned*', 'i2t', expect.stringMatching(/%$/)],
    ]);
    expect(stdout).toContain('active: the zero-shot identity identity-');
    expect(stdout).toMatch(/\* proj-[0-9a-f]{16} is not active: fine-tuned .* not made active/);
  }, 120_000);

  it('makes a fine-tune that beats zero-shot the active projection, dropping an older rejected one', async () => {
    // Towers that only roughly agree (the text tower turns colours 0.8 rad about the grey axis),
    // over 29 colours, so zero-shot confuses similar ones and a fine-tune has something to fix.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'zero-shot-twist-'));
    try {
      await writeClipStandIn(dir, { twist: 0.8 });
      const files = await writeColourPhotos(path.join(dir, 'photos'), PALETTE);
      const manifest = path.join(dir, 'pairs.jsonl');
      const line = (c: string, i: number) =>
        JSON.stringify({
          image: `photos/${files[c]}`,
          captions: [`a ${c} photo`],
          metadata: { split: i % 3 === 2 ? 'val' : 'train' },
        });
      await writeFile(manifest, Object.keys(PALETTE).map(line).join('\n'));
      const cfg = loadConfig({
        env: {},
        overrides: { DATA_DIR: dir, MODELS: 'clip', DEVICE: 'cpu', LOG_LEVEL: 'silent' },
      });
      const encoders = await loadEncoders(cfg, silentLogger);
      try {
        const identity = await loadProjection(cfg, encoders, silentLogger);
        await identity.close();
        const stale = rejectedDir(projectionDir(cfg));
        await writeProjection(stale, createInitialWeights({ textDims: 8, imageDims: 8, start: 'identity' }));
        const { card } = await trainProjection(
          cfg,
          { dataPath: manifest, encoders, epochs: 40, lr: 0.02, patience: 40 },
          silentLogger,
        );
        expect({ active: card.active, reason: card.reason }).toEqual({
          active: true,
          reason: expect.stringMatching(
            /^fine-tuned \d\.\d{4} vs zero-shot \d\.\d{4} \(mean of R@1\/5\/10 both ways on validation\): the fine-tune beats zero-shot and is now active$/,
          ),
        });
        expect(card.zeroShot!.t2i.r1).toBeLessThan(1);
        expect(validationScore(card.validation!)).toBeGreaterThan(validationScore(card.zeroShot!));
        expect(existsSync(stale)).toBe(false);
        const active = await loadProjection(cfg, encoders, silentLogger);
        expect({ fingerprint: active.fingerprint, trained: active.trained }).toEqual({
          fingerprint: card.fingerprint,
          trained: true,
        });
        expect(active.fingerprint).not.toBe(identity.fingerprint);
        await active.close();
      } finally {
        await encoders.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
