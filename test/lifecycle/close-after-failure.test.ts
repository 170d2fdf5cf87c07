import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, runThenClose } from '../../src/close-all.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openIndexes } from '../../src/store/vector/index.ts';
import { pgliteBackend } from '../setup/databases.ts';
import { Collection } from './collection.ts';

/**
 * The way commands shut down when the final checkpoint fails: the database is closed anyway, and
 * the command's own failure is the one reported. Real PGlite, a real index set whose directory
 * path is taken by a file when it closes, so its final checkpoint really fails.
 */

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'close-after-failure-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** A database and an index set with unsaved vectors whose final checkpoint will fail. */
async function openDoomed(name: string) {
  const opened = await pgliteBackend.open();
  await migrate(opened.db);
  const config = loadConfig({ env: {}, overrides: { DATA_DIR: path.join(dataDir, name) } });
  const collection = new Collection(opened.db, `${name}-models`, 8, name);
  const set = await openIndexes({
    config,
    db: opened.db,
    fingerprint: collection.fingerprint,
    dims: 8,
    logger: silentLogger,
  });
  const { imageIds } = await collection.addImages(2);
  set.add(
    'image',
    imageIds,
    imageIds.map((id) => collection.vectorOf('image', id)),
  );
  await rename(set.dir, `${set.dir}.away`);
  await writeFile(set.dir, 'not a directory');
  // The order commands register them: database first, so it is closed last.
  const closers = [() => opened.db.close(), () => set.close()];
  return { db: opened.db, set, closers, dispose: () => opened.dispose().catch(() => undefined) };
}

async function isClosed(db: Db): Promise<boolean> {
  return db.query('SELECT 1').then(
    () => false,
    () => true,
  );
}

describe('closing after a failed final checkpoint', () => {
  it('closes the database anyway and reports the checkpoint failure', async () => {
    const doomed = await openDoomed('close-only');
    await expect(closeAll(doomed.closers)).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
    expect(doomed.set.checkpointStatus().consecutiveFailures).toBe(1);
    expect(await isClosed(doomed.db)).toBe(true);
    await expect(closeAll(doomed.closers)).resolves.toBeUndefined();
    await doomed.dispose();
  });

  it("keeps the run's own error when closing fails too, and still closes the database", async () => {
    const doomed = await openDoomed('run-fails');
    const closeErrors: unknown[] = [];
    const runError = new Error('the run itself failed');
    await expect(
      runThenClose(
        () => Promise.reject(runError),
        () => closeAll(doomed.closers),
        (e) => closeErrors.push(e),
      ),
    ).rejects.toBe(runError);
    expect(closeErrors).toHaveLength(1);
    expect(await isClosed(doomed.db)).toBe(true);
    await doomed.dispose();
  });

  it('fails a run that succeeded when its final checkpoint fails, instead of exiting 0', async () => {
    const doomed = await openDoomed('run-ok');
    await expect(
      runThenClose(
        async () => 'done',
        () => closeAll(doomed.closers),
        () => expect.unreachable('only closing failed'),
      ),
    ).rejects.toBeInstanceOf(Error);
    expect(await isClosed(doomed.db)).toBe(true);
    await doomed.dispose();
  });
});
