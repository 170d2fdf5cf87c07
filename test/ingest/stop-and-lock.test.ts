import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { createEmbedder } from '../../src/models/embedder.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { loadProjection } from '../../src/models/projection.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
import { openIndexes } from '../../src/store/vector/index-set.ts';
import { writeFixture, type Fixture } from './fixtures.ts';
import { count, runScript } from './processes.ts';

/**
 * The indexing CLIs as an operator runs them, in real processes on embedded PGlite: stopped by a
 * signal, and started beside another process that holds the data directory.
 */
const N = 40;
let dataDir: string;
let config: Config;
let env: Record<string, string>;
let fixture: Fixture;
let model: { fingerprint: string; dims: number };

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'stop-lock-'));
  env = { DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'debug' };
  config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
  fixture = await writeFixture(path.join(dataDir, 'source'), N);
  // Models exist before the first run, so each run's time goes to indexing.
  const encoders = await loadEncoders(config, silentLogger);
  const projection = await loadProjection(config, encoders, silentLogger);
  model = createEmbedder(encoders, projection);
  await projection.close();
  await encoders.close();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** Opens the database directly, as a test may once no command is running. */
async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDb(config);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const lockLeft = async () => (await readdir(dataDir)).some((n) => n.startsWith('.lock'));
const afterSignal = (stderr: string, signal: string) => stderr.slice(stderr.indexOf(`${signal}: stopping`));

describe('stopping the indexing commands', () => {
  it('SIGTERM stops `index` after the batch being stored: exit 143, summary, saved index, run recorded, lock released', async () => {
    const args = [fixture.manifest, '--batch', '2', '--concurrency', '1'];
    const run = runScript('index', args, env, (stderr, child) => {
      if (count(stderr, 'batch stored') === 1) child.kill('SIGTERM');
    });
    const exit = await run.exit;
    expect(exit.code, exit.stderr.slice(-2000)).toBe(143);
    expect(exit.stdout).toMatch(/indexed: +\d+ images/);
    expect(exit.stdout).toContain('stopped early by a signal');
    // At most the batch being stored when the signal came is stored after it.
    expect(count(afterSignal(exit.stderr, 'SIGTERM'), 'batch stored')).toBeLessThanOrEqual(1);
    expect(await lockLeft()).toBe(false);

    const { stored, run: row } = await withDb(async (db) => ({
      stored: (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM images'))[0]!.n,
      run: (
        await db.query<{ finished: boolean; stopped: boolean }>(
          `SELECT finished_at IS NOT NULL AS finished, (summary->>'stopped')::boolean AS stopped
           FROM ingest_runs ORDER BY id DESC LIMIT 1`,
        )
      )[0],
    }));
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(N);
    expect(row).toEqual({ finished: true, stopped: true });
    // The checkpoint holds every committed image: reopening adds nothing.
    await withDb(async (db) => {
      const indexes = await openIndexes({ config, db, ...model, logger: silentLogger });
      expect(indexes.reconciled.image.added).toBe(0);
      expect(indexes.images.size).toBe(stored);
      await indexes.close();
    });
  });

  it('SIGTERM to `npm run index` reaches the indexer, which stops cleanly and prints its summary', async () => {
    // npm forwards a signal only to its own child; the script's `exec node --import tsx` makes that
    // child the indexer itself (a shell between them let the indexer run on; tsx's CLI wrapper
    // SIGKILLs a child slow to acknowledge the relayed signal, as one is on a loaded machine).
    const run = runScript(
      'npm:index',
      [fixture.manifest, '--batch', '2', '--concurrency', '1'],
      env,
      (stderr, child) => {
        if (count(stderr, 'batch stored') === 1) child.kill('SIGTERM');
      },
    );
    // 'close' waits for the indexer too: it writes to the stdout it inherited from npm.
    const exit = await run.exit;
    expect(exit.stderr).toContain('SIGTERM: stopping');
    expect(exit.stdout).toContain('stopped early by a signal');
    expect(await lockLeft()).toBe(false);
    const last = await withDb(
      async (db) =>
        (
          await db.query<{ finished: boolean; stopped: boolean }>(
            `SELECT finished_at IS NOT NULL AS finished, (summary->>'stopped')::boolean AS stopped
             FROM ingest_runs ORDER BY id DESC LIMIT 1`,
          )
        )[0],
    );
    expect(last).toEqual({ finished: true, stopped: true });
  });

  it('Ctrl-C stops `reindex` after the page being embedded: exit 130; start is then refused until it finishes', async () => {
    // 1: the run finished, with the fixture's corrupt, missing and traversal lines failed.
    const rest = await runScript('index', [fixture.manifest], env).exit;
    expect(rest.code, rest.stderr.slice(-2000)).toBe(1);
    // A model change, as a retrained projection makes one: no vector is for the current models.
    await withDb(async (db) => {
      await db.query(`UPDATE image_vectors SET fingerprint = 'older-models'`);
      await db.query(`UPDATE caption_vectors SET fingerprint = 'older-models'`);
    });
    const run = runScript('reindex', ['--batch', '2', '--concurrency', '1'], env, (stderr, child) => {
      if (count(stderr, 'reindex page stored') === 1) child.kill('SIGINT');
    });
    const exit = await run.exit;
    expect(exit.code, exit.stderr.slice(-2000)).toBe(130);
    expect(exit.stdout).toContain('not rebuilt: stopped early by a signal');
    expect(count(afterSignal(exit.stderr, 'SIGINT'), 'reindex page stored')).toBeLessThanOrEqual(1);
    expect(await lockLeft()).toBe(false);

    const start = await runScript('start', [], { ...env, PORT: '0', LOG_LEVEL: 'warn' }).exit;
    expect(start.code).toBe(2);
    expect(start.stderr).toMatch(/error \[REINDEX_INCOMPLETE\]: .*stopped part way.*npm run reindex/);

    const finish = await runScript('reindex', [], env).exit;
    expect(finish.code, finish.stderr.slice(-2000)).toBe(0);
    await withDb(async (db) => {
      const indexes = await openIndexes({ config, db, ...model, logger: silentLogger });
      expect(indexes.images.size).toBe(fixture.good);
      await indexes.close();
    });
  });
});

describe('one process per data directory', () => {
  it('with a server running, every other command is refused before it opens the database, which stays intact', async () => {
    const before = await withDb(
      async (db) => (await db.query('SELECT id, sha256 FROM images ORDER BY id')).length,
    );
    const server = runScript('start', [], { ...env, PORT: '0', LOG_LEVEL: 'info' });
    await new Promise<void>((resolve, reject) => {
      server.child.stdout!.on('data', () => resolve());
      void server.exit.then((e) => reject(new Error(`server exited: ${e.stderr.slice(-2000)}`)));
    });
    // Every command documents 2 for "could not run".
    for (const [name, args, code] of [
      ['migrate', [], 2],
      ['reindex', [], 2],
      ['index', [fixture.manifest], 2],
      ['start', [], 2],
    ] as const) {
      const other = await runScript(name, [...args], { ...env, PORT: '0' }).exit;
      expect(other.code, `${name}: ${other.stderr.slice(-2000)}`).toBe(code);
      expect(other.stderr).toMatch(
        new RegExp(`error \\[DATA_DIR_LOCKED\\]: .* in use by process ${server.child.pid} \\(start\\)`),
      );
      expect(other.stderr).not.toContain('database ready');
    }
    server.child.kill('SIGTERM');
    const stopped = await server.exit;
    expect(stopped.code, stopped.stderr.slice(-2000)).toBe(0);
    await withDb(async (db) => {
      expect((await db.query('SELECT id, sha256 FROM images ORDER BY id')).length).toBe(before);
      // Heap and primary key agree (a second writer had left them disagreeing).
      await db.query('SET enable_seqscan = off');
      const [viaIndex] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM images WHERE id > 0');
      expect(viaIndex!.n).toBe(before);
    });
  });
});
