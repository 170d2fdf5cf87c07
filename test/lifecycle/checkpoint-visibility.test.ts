import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../src/api/http-server.ts';
import { createMetrics } from '../../src/api/metrics.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import type { SearchEngine } from '../../src/search/engine.ts';
import type { CaptionsRepository } from '../../src/store/captions.repository.ts';
import { openIndexes, type IndexSet } from '../../src/store/vector/index.ts';
import { pgliteBackend, useMigratedDb } from '../setup/databases.ts';
import { Collection } from './collection.ts';

/**
 * A failing checkpoint must be visible to an operator: `/readyz` says so in its body and
 * `/metrics` counts it. The failure is real (the index directory's path is taken by a file);
 * the engine and captions are never reached by these routes, so the server gets inert stand-ins.
 */

const DIMS = 8;
const database = useMigratedDb(pgliteBackend, false);
let dataDir: string;
let set: IndexSet;
let server: ApiServer;
let collection: Collection;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-visibility-'));
  const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
  collection = new Collection(database.get(), 'visible-models', DIMS, 'visible');
  set = await openIndexes({
    config,
    db: collection.db,
    fingerprint: collection.fingerprint,
    dims: DIMS,
    logger: silentLogger,
  });
  const metrics = createMetrics(
    () => ({ image: set.images.size, caption: set.captions.size }),
    () => set.checkpointStatus(),
  );
  const unused = new Proxy({}, { get: () => expect.unreachable('not used by these routes') });
  server = await startApiServer(
    {
      config,
      logger: silentLogger,
      engine: unused as SearchEngine,
      captions: unused as CaptionsRepository,
      metrics,
      checkReady: async () => {},
      checkpointStatus: () => set.checkpointStatus(),
    },
    { host: '127.0.0.1', port: 0 },
  );
});
afterAll(async () => {
  await server?.close();
  await set?.close().catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

const readyz = async () => (await fetch(`${server.url}/readyz`)).json();
const metric = async (name: string) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
};

describe('failed checkpoints', () => {
  it('show in /readyz and /metrics until a checkpoint commits again', async () => {
    expect(await readyz()).toEqual({ status: 'ready' });
    const { imageIds, captionIds } = await collection.addImages(3);
    set.add(
      'image',
      imageIds,
      imageIds.map((id) => collection.vectorOf('image', id)),
    );
    set.add(
      'caption',
      captionIds,
      captionIds.map((id) => collection.vectorOf('caption', id)),
    );

    // The directory's path taken by a file: every write under it fails.
    await rename(set.dir, `${set.dir}.away`);
    await writeFile(set.dir, 'not a directory');
    await expect(set.checkpoint()).rejects.toThrow();
    await expect(set.checkpoint()).rejects.toThrow();

    expect(await readyz()).toMatchObject({
      status: 'degraded',
      checkpoint: { failing: true, consecutiveFailures: 2, failuresTotal: 2, lastError: expect.any(String) },
    });
    expect(await metric('index_checkpoint_failures_total')).toBe(2);
    expect(await metric('index_checkpoint_consecutive_failures')).toBe(2);
    expect(await metric('index_checkpoint_last_success_timestamp_seconds')).toBe(0);

    await rm(set.dir);
    await rename(`${set.dir}.away`, set.dir);
    expect(await set.checkpoint()).toBe(true);
    expect(await readyz()).toEqual({ status: 'ready' });
    expect(await metric('index_checkpoint_failures_total')).toBe(2);
    expect(await metric('index_checkpoint_consecutive_failures')).toBe(0);
    expect(await metric('index_checkpoint_last_success_timestamp_seconds')).toBeGreaterThan(0);
  });
});
