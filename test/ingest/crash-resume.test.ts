import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { createEmbedder } from '../../src/models/embedder.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { loadProjection } from '../../src/models/projection.ts';
import { openDb } from '../../src/store/open-db.ts';
import { openIndexes } from '../../src/store/vector/index-set.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';
import { writeFixture } from './fixtures.ts';

/**
 * Kills a real indexer process (SIGKILL, no chance to clean up) at random moments while it
 * indexes, restarts it each time, and then checks that Postgres and the HNSW index hold every
 * item exactly once.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const N = 60;
const KILLS = 3;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Starts `npm run index`'s script. With `kill`, SIGKILLs it `jitterMs` after its `afterBatches`-th
 * stored batch: a random moment that is sure to fall while it works, however loaded the machine.
 */
function runIndexer(
  env: Record<string, string>,
  args: string[],
  kill?: { afterBatches: number; jitterMs: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/index.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, LOG_LEVEL: 'debug', DEVICE: 'cpu' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let armed = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const stored = stderr.split('"batch stored"').length - 1;
      if (kill !== undefined && !armed && stored >= kill.afterBatches) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), kill.jitterMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function scenario(backend: 'pglite' | 'postgres'): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `crash-${backend}-`));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  let databaseUrl = '';
  if (backend === 'postgres') {
    const database = await createPostgresDatabase();
    cleanups.push(database.drop);
    databaseUrl = database.url;
  }
  const env = { DATA_DIR: dataDir, DATABASE_URL: databaseUrl };
  const config = loadConfig({ env: {}, overrides: env });
  const fixture = await writeFixture(path.join(dataDir, 'source'), N);
  // Models and schema exist before the first kill: the kills land in the indexing itself.
  const encoders = await loadEncoders(config, silentLogger);
  const projection = await loadProjection(config, encoders, silentLogger);
  const { fingerprint, dims } = createEmbedder(encoders, projection);
  await projection.close();
  await encoders.close();
  await (await openDb(config)).close();

  const args = [fixture.manifest, '--batch', '3', '--concurrency', '2', '--checkpoint-every', '0.2'];
  // Each run stores batches of 3; kill each somewhere in its first few batches, at a random offset.
  const kills = Array.from({ length: KILLS }, () => ({
    afterBatches: 1 + Math.floor(Math.random() * 4),
    jitterMs: Math.round(Math.random() * 40),
  }));
  const midRun: number[] = [];
  for (const kill of kills) {
    const delay = `${kill.afterBatches} batches + ${kill.jitterMs}`;
    const run = await runIndexer(env, args, kill);
    // A run may legitimately finish before its kill lands; anything else must be the kill.
    // (1 = finished with failed items: the fixture's corrupt, missing and traversal lines.)
    if (run.signal !== 'SIGKILL')
      expect([0, 1], `run killed after ${delay} ms:\n${run.stderr.slice(-2000)}`).toContain(run.code);
    // Reopening the database right after the kill is itself part of the test (PGlite recovery).
    const db = await openDb(config);
    const [{ n }] = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM images')) as [
      { n: number },
    ];
    await db.close();
    console.log(
      `[${backend}] killed ${run.signal === 'SIGKILL' ? `after ${delay} ms` : 'too late (run had finished)'}: ${n}/${N} images stored`,
    );
    if (run.signal === 'SIGKILL' && n > 0 && n < N) midRun.push(n);
  }
  // At least one kill must have landed between the first and the last stored batch, or this test proved little.
  expect(midRun.length, 'no kill landed while the indexer was still working').toBeGreaterThan(0);
  const summaryFile = path.join(dataDir, 'summary.json');
  const final = await runIndexer(env, [...args, '--json', summaryFile]);
  const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as {
    indexed: number;
    skipped: number;
    failed: number;
  };
  // The documented exit codes: 1 when this run finished with failed items, else 0.
  expect(final.code, final.stderr.slice(-3000)).toBe(summary.failed > 0 ? 1 : 0);
  expect(summary.indexed + summary.skipped + summary.failed).toBeGreaterThan(0);

  const db = await openDb(config);
  try {
    const one = async (sql: string, params: unknown[] = []) =>
      (await db.query<Record<string, unknown>>(sql, params))[0]!;
    // Postgres: every good image once, with its captions and vectors once; the fixture's copy of
    // img1 adds its one caption to img1.
    expect(await one('SELECT count(*)::int AS n, count(DISTINCT sha256)::int AS d FROM images')).toEqual({
      n: N,
      d: N,
    });
    expect(
      await one('SELECT count(*)::int AS n, count(DISTINCT (image_id, text))::int AS d FROM captions'),
    ).toEqual({ n: 2 * N + 1, d: 2 * N + 1 });
    expect(
      await one('SELECT count(*)::int AS n FROM image_vectors WHERE fingerprint = $1', [fingerprint]),
    ).toEqual({ n: N });
    expect(
      await one('SELECT count(*)::int AS n FROM caption_vectors WHERE fingerprint = $1', [fingerprint]),
    ).toEqual({ n: 2 * N + 1 });
    // The ledger: one final word per item, nothing lost.
    const statuses = await db.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM ingest_items GROUP BY status ORDER BY status',
    );
    expect(statuses).toEqual([
      { status: 'duplicate', n: 1 },
      { status: 'failed', n: 3 },
      { status: 'indexed', n: N },
    ]);
    expect(
      await one("SELECT count(*)::int AS n FROM ingest_items WHERE status = 'indexed' AND image_id IS NULL"),
    ).toEqual({ n: 0 });

    // The index files as the last run saved them: exactly Postgres's ids, nothing to repair.
    const indexes = await openIndexes({ config, db, fingerprint, dims, logger: silentLogger });
    try {
      expect(indexes.reconciled.image).toMatchObject({ added: 0, deleted: 0, fullScan: false });
      expect(indexes.reconciled.caption).toMatchObject({ added: 0, deleted: 0, fullScan: false });
      const imageIds = (await db.query<{ id: number }>('SELECT id FROM images ORDER BY id')).map((r) =>
        Number(r.id),
      );
      const captionIds = (await db.query<{ id: number }>('SELECT id FROM captions ORDER BY id')).map((r) =>
        Number(r.id),
      );
      expect(indexes.images.ids().sort((a, b) => a - b)).toEqual(imageIds);
      expect(indexes.captions.ids().sort((a, b) => a - b)).toEqual(captionIds);
    } finally {
      await indexes.close();
    }
  } finally {
    await db.close();
  }
}

describe('the indexer killed with SIGKILL', () => {
  it('pglite: resumes after every kill and ends with exact counts, no duplicates, index and Postgres in agreement', async () => {
    await scenario('pglite');
  }, 120_000);

  it.skipIf(postgresBackend.skipReason !== '')(
    'postgres: resumes after every kill and ends with exact counts, no duplicates, index and Postgres in agreement',
    async () => {
      await scenario('postgres');
    },
    120_000,
  );
});
