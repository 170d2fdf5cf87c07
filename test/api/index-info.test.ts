import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startApp } from '../../src/main.ts';
import { generateSampleData } from '../../src/train/synthetic/generate.ts';
import { indexSamples } from './fixture.ts';

/**
 * `indexInfo` describes the graph being searched: a graph built with HNSW_M=12 and
 * HNSW_EF_CONSTRUCTION=100 keeps those (its manifest) when the server restarts with other settings;
 * only ef follows the config. It also says where each encoder runs.
 */
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'index-info-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const config = (hnsw: { m: number; efc: number; ef: number }) =>
  loadConfig({
    env: {},
    overrides: {
      DATA_DIR: dataDir,
      PORT: 0,
      DEVICE: 'cpu',
      LOG_LEVEL: 'silent',
      HNSW_M: hnsw.m,
      HNSW_EF_CONSTRUCTION: hnsw.efc,
      HNSW_EF: hnsw.ef,
    },
  });

describe('indexInfo', () => {
  it('reports the built graph M and efConstruction after a restart with other settings, and each encoder provider', async () => {
    const { manifestPath } = await generateSampleData({
      outDir: path.join(dataDir, 'samples'),
      n: 12,
      seed: 3,
      captionsPerImage: 1,
    });
    const first = await startApp(config({ m: 12, efc: 100, ef: 40 }), silentLogger);
    await indexSamples(first, manifestPath);
    await first.close();

    const second = await startApp(config({ m: 32, efc: 400, ef: 80 }), silentLogger);
    try {
      const response = await fetch(`${second.server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `{ indexInfo { textEncoderProvider imageEncoderProvider indexes { kind count m efConstruction ef } } }`,
        }),
      });
      expect(await response.json()).toEqual({
        data: {
          indexInfo: {
            textEncoderProvider: 'cpu',
            imageEncoderProvider: 'cpu',
            indexes: [
              { kind: 'image', count: 12, m: 12, efConstruction: 100, ef: 80 },
              { kind: 'caption', count: 12, m: 12, efConstruction: 100, ef: 80 },
            ],
          },
        },
      });
    } finally {
      await second.close();
    }
  }, 240_000);
});
