import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { openStore } from '../../src/store/open-store.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';

/**
 * On a shared PostgreSQL server each process has its own DATA_DIR, so only the database can keep a
 * reindex (new models) apart from servers and indexers that would add rows it never re-embeds.
 */
describe.skipIf(postgresBackend.skipReason !== '')('the database lock on a shared server [postgres]', () => {
  let url: string;
  let drop: () => Promise<void>;
  const dirs: string[] = [];
  const configFor = async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cms-dblock-'));
    dirs.push(dataDir);
    return loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, DATABASE_URL: url } });
  };
  beforeAll(async () => {
    ({ url, drop } = await createPostgresDatabase());
  });
  afterAll(async () => {
    await drop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('refuses a reindex while a server uses the database, naming its session, and allows it after', async () => {
    const server = await openStore(await configFor(), silentLogger, { command: 'start' });
    const indexer = await openStore(await configFor(), silentLogger, { command: 'index' });
    const reindexConfig = await configFor();
    await expect(
      openStore(reindexConfig, silentLogger, { command: 'reindex', use: 'exclusive' }),
    ).rejects.toMatchObject({
      code: 'DATABASE_BUSY',
      message: expect.stringMatching(
        /servers, indexers or workers are using it: backend \d+ .*\(crossmodal-search start\), backend \d+ .*\(crossmodal-search index\)/,
      ),
    });
    await server.close();
    await indexer.close();
    const reindex = await openStore(reindexConfig, silentLogger, { command: 'reindex', use: 'exclusive' });
    await reindex.close();
  });

  it('survives the server ending its lock session (a restart), logging it, and the lock is free after', async () => {
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (o: unknown, msg?: string) => errors.push(String(msg ?? o)) };
    const server = await openStore(await configFor(), logger as unknown as typeof silentLogger, {
      command: 'start',
    });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = 'crossmodal-search start' AND datname = current_database()`,
    );
    await admin.end();
    // Bounded: the terminated session's locks go as soon as the backend exits.
    const reindexConfig = await configFor();
    let reindex;
    for (let i = 0; i < 100 && !reindex; i++) {
      reindex = await openStore(reindexConfig, silentLogger, { command: 'reindex', use: 'exclusive' }).catch(
        () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      );
    }
    expect(reindex).toBeDefined();
    await reindex!.close();
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(errors).toEqual([expect.stringContaining('lost the database lock session')]);
    await server.close();
  });

  it('refuses a server while a reindex runs, and a second reindex too', async () => {
    const reindex = await openStore(await configFor(), silentLogger, {
      command: 'reindex',
      use: 'exclusive',
    });
    await expect(openStore(await configFor(), silentLogger, { command: 'start' })).rejects.toMatchObject({
      code: 'DATABASE_BUSY',
      message: expect.stringContaining('A reindex for new models is running'),
    });
    await expect(
      openStore(await configFor(), silentLogger, { command: 'reindex', use: 'exclusive' }),
    ).rejects.toMatchObject({ code: 'DATABASE_BUSY' });
    await reindex.close();
    const server = await openStore(await configFor(), silentLogger, { command: 'start' });
    await server.close();
  });
});
