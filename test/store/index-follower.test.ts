import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { ChangeLogPruner } from '../../src/store/change-log-pruner.ts';
import { asFollowTarget, readHorizon, startFollower } from '../../src/store/index-follower.ts';
import { openIndexes, type IndexSet } from '../../src/store/vector/index-set.ts';
import { encodeVector } from '../../src/store/vectors.repository.ts';
import { migrate } from '../../src/store/migrate.ts';
import { announceSkip, postgresBackend } from '../setup/databases.ts';
import { unitVectors } from '../vector/vectors.ts';

/**
 * The HNSW follower of an API replica against a real server, with writers that commit out of id
 * order: two connections hold transactions open, the one with the smaller id commits last.
 */
const skip = announceSkip(postgresBackend, 'index follower');
const DIMS = 16;
const FP = 'follower-test';

/** A bounded wait for a condition (not a speed assertion): true once it holds, false after 10 s. */
async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await sleep(10);
  }
  return check();
}

async function insertImage(client: pg.Client, n: number, vector: Float32Array): Promise<number> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO images (sha256, uri, width, height, format, bytes) VALUES ($1, $2, 8, 8, 'png', 10) RETURNING id`,
    [n.toString(16).padStart(64, '0'), `file:///f/${n}.png`],
  );
  const id = Number(rows[0]!.id);
  await client.query(
    'INSERT INTO image_vectors (image_id, fingerprint, dims, vector) VALUES ($1, $2, $3, $4)',
    [id, FP, DIMS, encodeVector(vector)],
  );
  return id;
}

describe.skipIf(skip)('index follower [postgres]', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('applies a row committed late with a smaller id and seq, and a soft delete, from another connection', async () => {
    const { db, url: serverUrl, dispose } = await postgresBackend.open();
    cleanups.push(dispose);
    await migrate(db);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'follower-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // The horizon before the index loads, as the API reads it.
    const from = await readHorizon(db);
    const set: IndexSet = await openIndexes({
      config: { paths: { indexes: dir }, hnsw: { m: 16, efConstruction: 100, ef: 50 } } as never,
      db,
      fingerprint: FP,
      dims: DIMS,
      logger: silentLogger,
    });
    cleanups.push(() => set.close());
    const follower = await startFollower({
      db,
      target: asFollowTarget(set),
      from,
      logger: silentLogger,
      pollMs: 50,
    });
    cleanups.push(() => follower.stop());

    const a = new pg.Client({ connectionString: serverUrl });
    const b = new pg.Client({ connectionString: serverUrl });
    await a.connect();
    await b.connect();
    cleanups.push(
      () => a.end(),
      () => b.end(),
    );
    const flat = unitVectors(2, DIMS, 7);
    const va = flat.slice(0, DIMS);
    const vb = flat.slice(DIMS);

    // A writes first (smaller image id, smaller change seq) and stays open; B commits.
    await a.query('BEGIN');
    const idA = await insertImage(a, 1, va);
    await b.query('BEGIN');
    const idB = await insertImage(b, 2, vb);
    await b.query('COMMIT');
    expect(idA).toBeLessThan(idB);

    expect(await eventually(() => set.images.has(idB))).toBe(true);
    // Polls after B's commit have moved past B's seq; A is still open, so it is not there yet.
    await follower.poll();
    expect(set.images.has(idA)).toBe(false);
    const seqs = await db.query<{ id: number; seq: number }>(
      'SELECT id, seq FROM vector_changes WHERE kind = $1 ORDER BY seq',
      ['image'],
    );
    expect(seqs.map((s) => s.id)).toEqual([idB]);

    await a.query('COMMIT');
    expect(await eventually(() => set.images.has(idA))).toBe(true);
    const order = await db.query<{ id: number; seq: number }>(
      'SELECT id, seq FROM vector_changes WHERE kind = $1 ORDER BY seq',
      ['image'],
    );
    // A's change has the smaller seq, yet it became visible after B's: a high-water mark on seq skips it.
    expect(order.map((s) => s.id)).toEqual([idA, idB]);
    expect(set.images.search(va, 1)[0]!.id).toBe(idA);

    // A soft delete from another connection leaves the index; a revival comes back.
    await b.query('UPDATE images SET deleted_at = now() WHERE id = $1', [idA]);
    expect(await eventually(() => !set.images.has(idA))).toBe(true);
    await b.query('UPDATE images SET deleted_at = NULL WHERE id = $1', [idA]);
    expect(await eventually(() => set.images.has(idA))).toBe(true);
    expect(set.images.ids().sort((x, y) => x - y)).toEqual([idA, idB]);
  });

  it('prunes the change log only below the horizon: an open transaction keeps its changes', async () => {
    const { db, url, dispose } = await postgresBackend.open();
    cleanups.push(dispose);
    await migrate(db);
    const open = new pg.Client({ connectionString: url });
    const done = new pg.Client({ connectionString: url });
    await open.connect();
    await done.connect();
    cleanups.push(
      () => open.end(),
      () => done.end(),
    );
    const flat = unitVectors(2, DIMS, 9);
    await insertImage(done, 11, flat.slice(0, DIMS));
    await open.query('BEGIN');
    const pending = await insertImage(open, 12, flat.slice(DIMS));
    // Retention 0: everything below the current horizon goes, nothing at or above it.
    expect(await new ChangeLogPruner(db, 0, 0).tick()).toBe(1);
    await open.query('COMMIT');
    const left = await db.query<{ id: number }>('SELECT id FROM vector_changes');
    expect(left.map((r) => r.id)).toEqual([pending]);
  });
});
