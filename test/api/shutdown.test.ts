/**
 * Issue 13, item 7: SIGTERM finishes within SHUTDOWN_GRACE_MS even when PostgreSQL stopped
 * answering. A real server process (`scripts/start.ts`) on a PostgreSQL cluster of this test's
 * own, frozen with SIGSTOP while a request waits inside it; SIGCONT afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript, type Exit } from '../ingest/processes.ts';
import { findBinDir, startThrowawayPostgres, type ThrowawayPostgres } from '../setup/throwaway-postgres.ts';

const skip = findBinDir() === undefined;
if (skip) console.warn('SKIPPED shutdown: PostgreSQL server binaries (initdb, pg_ctl) not found');

describe.skipIf(skip)('shutdown with an unresponsive database', () => {
  let pg: ThrowawayPostgres;
  let dataDir: string;

  beforeAll(async () => {
    const started = await startThrowawayPostgres();
    if ('skipReason' in started) throw new Error(started.skipReason);
    pg = started;
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'cms-shutdown-'));
  });
  afterAll(async () => {
    pg?.thaw();
    pg?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('exits within the grace period with a line naming the stage it gave up on', async () => {
    const env = { DATABASE_URL: pg.url, DATA_DIR: dataDir, LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '2000' };
    const migrated = await runScript('migrate', [], env).exit;
    expect(migrated.code).toBe(0);

    let url = '';
    let onServing!: () => void;
    const serving = new Promise<void>((resolve) => (onServing = resolve));
    const server = runScript('start', ['--port', '0'], env, (stderr) => {
      const m = /"url":"(http:[^"]+)","msg":"serving"/.exec(stderr);
      if (m && !url) {
        url = m[1]!;
        onServing();
      }
    });
    const exitedEarly = server.exit.then((e) => Promise.reject(new Error(`start exited: ${e.stderr}`)));
    await Promise.race([serving, exitedEarly]);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    pg.freeze();
    try {
      // A request that waits inside the frozen database: it holds a pool connection open.
      const stuck = fetch(`${url}/readyz`).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 500));
      server.child.kill('SIGTERM');
      const exit = await Promise.race([
        server.exit,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000)),
      ]);
      // Exited while PostgreSQL was still frozen (without the deadline it waits for the thaw).
      expect(exit).toMatchObject<Partial<Exit>>({ code: 1 });
      expect(exit!.stderr).toContain(
        'shutdown did not finish within SHUTDOWN_GRACE_MS (2000 ms) while saving the indexes and closing the database; exiting now (is the database unresponsive?)',
      );
      await stuck;
    } finally {
      pg.thaw();
      server.child.kill('SIGKILL');
    }
  }, 240_000);
});
