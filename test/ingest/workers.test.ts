import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { loadEncoders } from '../../src/models/load.ts';
import { loadProjection } from '../../src/models/projection.ts';
import { openPgDb } from '../../src/store/pg-db.ts';
import type { Db } from '../../src/store/db.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';
import { writeFixture, type Fixture } from './fixtures.ts';
import { count, runScript, type Exit } from './processes.ts';

/**
 * Indexer workers as an operator runs them: `index --enqueue`, then three `worker` processes on one
 * PostgreSQL server (the test server), one of them SIGKILLed while it holds a claimed batch.
 */
const N = 60;
/** Real processes on a shared, busy machine: generous, since nothing here measures speed. */
const SLOW = 300_000;
const skip = postgresBackend.skipReason;
if (skip) console.warn(`SKIPPED indexer workers: ${skip}`);

let dataDir: string;
let fixture: Fixture;
let database: { url: string; drop(): Promise<void> };
let db: Db;
let env: Record<string, string>;

beforeAll(async () => {
  if (skip) return;
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'workers-'));
  fixture = await writeFixture(path.join(dataDir, 'source'), N);
  // Models exist before the workers start (each would otherwise generate the same files).
  const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
  const encoders = await loadEncoders(config, silentLogger);
  await (await loadProjection(config, encoders, silentLogger)).close();
  await encoders.close();
  database = await createPostgresDatabase();
  env = { DATA_DIR: dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'debug' };
}, SLOW);
afterAll(async () => {
  await db?.close();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const one = async (sql: string) => (await db.query<{ n: number }>(sql))[0]!.n;

describe.skipIf(skip !== '')('indexer workers on a PostgreSQL server', () => {
  it(
    'index --enqueue records every listed item (path, captions, metadata; no bytes) and is idempotent',
    async () => {
      const first = await runScript('index', [fixture.manifest, '--enqueue'], env).exit;
      expect(first.code, first.stderr.slice(-2000)).toBe(0);
      const listed = fixture.good + fixture.duplicates + 3;
      expect(first.stdout).toContain(`queued ${listed} items`);
      db = await openPgDb(database.url);
      expect(await one(`SELECT count(*)::int AS n FROM work_items WHERE status = 'pending'`)).toBe(listed);
      // The forbidden line is queued with its listing error and no file; good ones with their file.
      const forbidden = await db.query<{ file: string | null; listing_error: string }>(
        `SELECT file, listing_error FROM work_items WHERE listing_error IS NOT NULL`,
      );
      expect(forbidden).toEqual([{ file: null, listing_error: expect.stringMatching(/^FORBIDDEN: /) }]);
      const again = await runScript('index', [fixture.manifest, '--enqueue'], env).exit;
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('queued 0 items');
      expect(again.stdout).toMatch(new RegExp(`already queued: +${listed}`));
    },
    SLOW,
  );

  it(
    'three workers, one SIGKILLed mid-batch: exact counts, no duplicates, nothing lost',
    async () => {
      const args = ['--batch', '4', '--concurrency', '1', '--lease', '2', '--exit-when-idle'];
      let killedId = '';
      const victim = runScript('worker', args, env, (stderr, child) => {
        // Its second claimed batch: the claim is committed, the batch is being read and embedded.
        if (count(stderr, 'batch claimed') === 2 && !killedId) {
          child.kill('SIGKILL');
          killedId = /"worker":"([^"]+)"/.exec(stderr)?.[1] ?? 'unknown';
        }
      });
      const others = [runScript('worker', args, env), runScript('worker', args, env)];
      const killed = await victim.exit;
      expect(killed.signal).toBe('SIGKILL');
      const orphaned = await one(
        `SELECT count(*)::int AS n FROM work_items WHERE worker = '${killedId.replaceAll("'", '')}'
       AND (status = 'claimed' OR attempts > 1)`,
      );
      const exits: Exit[] = await Promise.all(others.map((o) => o.exit));
      for (const e of exits) expect([0, 1], e.stderr.slice(-3000)).toContain(e.code);

      const status = await runScript('index', ['--status', '--json', path.join(dataDir, 'status.json')], env)
        .exit;
      console.log(
        [
          '--- worker crash test output ---',
          `killed worker ${killedId} (SIGKILL after its 2nd claim; ${orphaned} of its claimed items were left for the others)`,
          ...exits.map((e, i) => `worker ${i + 1} (exit ${e.code}):\n${e.stdout.trim()}`),
          `index --status (exit ${status.code}):\n${status.stdout.trim()}`,
        ].join('\n'),
      );
      expect(orphaned).toBeGreaterThan(0);
      // Exact: every good image once, the copy a duplicate, the three bad lines failed.
      const queue = JSON.parse(await readFile(path.join(dataDir, 'status.json'), 'utf8')) as {
        queue: Record<string, number>;
        workers: unknown[];
      };
      expect(queue.queue).toEqual({ pending: 0, claimed: 0, expired: 0, done: N + 1, failed: 3 });
      expect(status.code).toBe(1);
      expect(await one('SELECT count(*)::int AS n FROM images')).toBe(N);
      expect(await one('SELECT count(DISTINCT sha256)::int AS n FROM images')).toBe(N);
      expect(await one('SELECT count(*)::int AS n FROM image_vectors')).toBe(N);
      // Two captions per image, plus the one the byte-identical copy attached to img1.
      expect(await one('SELECT count(*)::int AS n FROM captions')).toBe(2 * N + 1);
      expect(await one('SELECT count(*)::int AS n FROM caption_vectors')).toBe(2 * N + 1);
      expect(
        await one(
          'SELECT count(*)::int AS n FROM (SELECT image_id, text FROM captions GROUP BY 1, 2 HAVING count(*) > 1) d',
        ),
      ).toBe(0);
      // Nothing lost: every listed item has its final word in the ledger, as `index` would record.
      const ledger = await db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM ingest_items GROUP BY status ORDER BY status',
      );
      expect(ledger).toEqual([
        { status: 'duplicate', n: 1 },
        { status: 'failed', n: 3 },
        { status: 'indexed', n: N },
      ]);
      const failed = await db.query<{ code: string }>(
        `SELECT split_part(error, ':', 1) AS code FROM work_items WHERE status = 'failed' ORDER BY 1`,
      );
      expect(failed.map((f) => f.code)).toEqual(['FORBIDDEN', 'INVALID_IMAGE', 'NOT_FOUND']);
      // The operator's view of the same: each failed item once, with the workers' reason.
      const listed = await runScript(
        'index',
        [fixture.manifest, '--list-failed', '--json', path.join(dataDir, 'failed.json')],
        env,
      ).exit;
      expect(listed.code).toBe(1);
      const report = JSON.parse(await readFile(path.join(dataDir, 'failed.json'), 'utf8')) as {
        failed: { key: string; error: string }[];
      };
      expect(report.failed.map((f) => f.error.split(':')[0]).sort()).toEqual([
        'FORBIDDEN',
        'INVALID_IMAGE',
        'NOT_FOUND',
      ]);
      // The killed worker's items were taken over once its lease ran out.
      expect(await one(`SELECT count(*)::int AS n FROM work_items WHERE attempts > 1`)).toBeGreaterThan(0);
    },
    SLOW,
  );

  it(
    'a single-process `index` of the same source afterwards finds everything finished',
    async () => {
      const run = await runScript('index', [fixture.manifest], { ...env, DATA_DIR: dataDir }).exit;
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`skipped: +${N + 4} `));
      expect(await one('SELECT count(*)::int AS n FROM images')).toBe(N);
    },
    SLOW,
  );
});

describe('workers need a PostgreSQL server', () => {
  it.each([
    ['worker', []],
    ['index', ['--status']],
    // An empty source: the setting is refused before the source is read.
    ['index', ['SOURCE', '--enqueue']],
  ])(
    '%s %s on embedded PGlite exits 2 naming DATABASE_URL',
    async (script, args) => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'workers-pglite-'));
      try {
        const argv = args.map((a) => (a === 'SOURCE' ? dir : a));
        const exit = await runScript(script, argv, { DATA_DIR: dir, DATABASE_URL: '' }).exit;
        expect(exit.code).toBe(2);
        expect(exit.stderr).toContain('error [BAD_CONFIG]: ');
        expect(exit.stderr).toContain('needs a PostgreSQL server shared by every worker: set DATABASE_URL=');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});
