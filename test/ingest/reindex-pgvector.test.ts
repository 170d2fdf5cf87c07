/**
 * `npm run reindex -- --vector-backend pgvector` moves the vectors stored as bytea into pgvector
 * tables without re-embedding (pgvector here is PGlite's WASM build: the embedded database the
 * default configuration uses; Debian 12 has no pgvector server package).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { openIngestContext, runIngest } from '../../src/ingest/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { openSource } from '../../src/media/sources/index.ts';
import { openDb } from '../../src/store/open-db.ts';
import { tableName } from '../../src/store/pgvector.repository.ts';
import { openVectorBackend } from '../../src/store/vector/backend.ts';
import { decodeVector } from '../../src/store/vectors.repository.ts';
import { writeFixture } from './fixtures.ts';
import { runScript } from './processes.ts';

let dataDir: string;
let config: Config;
let fingerprint: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'reindex-pgvector-'));
  config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, DEVICE: 'cpu' } });
  const fixture = await writeFixture(path.join(dataDir, 'source'), 8);
  // Indexed with the default backend: the vectors exist as bytea rows and HNSW files only.
  const ctx = await openIngestContext(config, silentLogger);
  try {
    await runIngest(await openSource(fixture.manifest), ctx, { batchSize: 4 });
    fingerprint = ctx.embedder.fingerprint;
  } finally {
    await ctx.close();
  }
}, 120_000);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** id -> the float32 values, from the bytea rows and from the pgvector table. */
async function storedVectors(kind: 'image' | 'caption') {
  const db = await openDb(config);
  try {
    const [table, id] = kind === 'image' ? ['image_vectors', 'image_id'] : ['caption_vectors', 'caption_id'];
    const bytea = await db.query<{ id: number; vector: Uint8Array }>(
      `SELECT ${id} AS id, vector FROM ${table} WHERE fingerprint = $1 ORDER BY 1`,
      [fingerprint],
    );
    const moved = await db.query<{ id: number; embedding: string }>(
      `SELECT id, embedding::text AS embedding FROM ${tableName(kind, fingerprint)} ORDER BY 1`,
    );
    return {
      bytea: bytea.map((r) => ({ id: r.id, vector: Array.from(decodeVector(r.vector)) })),
      pgvector: moved.map((r) => ({
        id: r.id,
        vector: Array.from(new Float32Array(JSON.parse(r.embedding) as number[])),
      })),
    };
  } finally {
    await db.close();
  }
}

describe('reindex --vector-backend pgvector', () => {
  it('moves every stored vector into pgvector, bit for bit, re-embedding nothing', async () => {
    const json = path.join(dataDir, 'reindex.json');
    const { exit } = runScript('npm:reindex', ['--vector-backend', 'pgvector', '--json', json], {
      DATA_DIR: dataDir,
    });
    const run = await exit;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('moved:       25 stored vectors into pgvector (not re-embedded)');
    expect(JSON.parse(await readFile(json, 'utf8'))).toMatchObject({
      mode: 'rebuild',
      reembeddedImages: 0,
      reembeddedCaptions: 0,
      failed: 0,
      vectorBackend: 'pgvector',
      movedVectors: 25,
      indexedImages: 8,
      indexedCaptions: 17,
    });
    for (const kind of ['image', 'caption'] as const) {
      const { bytea, pgvector } = await storedVectors(kind);
      expect(bytea.length).toBe(kind === 'image' ? 8 : 17);
      expect(pgvector).toEqual(bytea);
    }
  }, 120_000);

  it('then serves searches from pgvector, with nothing left to move', async () => {
    const db = await openDb(config);
    try {
      const backend = await openVectorBackend({
        config: { ...config, vectorBackend: 'pgvector' },
        db,
        fingerprint,
        dims: (await storedVectors('image')).bytea[0]!.vector.length,
        logger: silentLogger,
      });
      expect(backend.name).toBe('pgvector');
      if (backend.name !== 'pgvector') return;
      expect(backend.moved).toEqual({ image: 0, caption: 0 });
      expect(backend.sizes()).toEqual({ image: 8, caption: 17 });
      const { bytea } = await storedVectors('image');
      for (const { id, vector } of bytea) {
        const got = await backend.search.image.knn(new Float32Array(vector), 1, { exactThreshold: 0 });
        expect(got.results.map((h) => h.id)).toEqual([id]);
      }
      await backend.close();
    } finally {
      await db.close();
    }
  }, 120_000);
});
