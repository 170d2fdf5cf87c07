import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import type { Db, Queryable } from '../../src/store/db.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import {
  applyCommitted,
  commitThenIndex,
  rowsOnly,
  type IndexChanges,
} from '../../src/store/index-lifecycle.ts';
import { asFollowTarget } from '../../src/store/index-follower.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPgliteDb } from '../../src/store/pglite-db.ts';
import { openIndexes, type IndexSet } from '../../src/store/vector/index-set.ts';
import { VectorsRepository } from '../../src/store/vectors.repository.ts';
import { unitVectors } from '../vector/vectors.ts';

/**
 * The index lifecycle rules of src/store/index-lifecycle.ts, one test each, on a real (embedded)
 * database and a real HNSW index set.
 */
const DIMS = 8;
const FP = 'lifecycle-rules';
let db: Db;
let dir: string;
let set: IndexSet;
let n = 0;

/** The index set over `dir` and `db` (opening reconciles it with Postgres). */
const openSet = () =>
  openIndexes({
    config: {
      paths: { indexes: path.join(dir, 'indexes') },
      hnsw: { m: 8, efConstruction: 50, ef: 20 },
    } as never,
    db,
    fingerprint: FP,
    dims: DIMS,
    logger: silentLogger,
  });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lifecycle-rules-'));
  db = await openPgliteDb(path.join(dir, 'pg'));
  await migrate(db);
  set = await openSet();
});
afterAll(async () => {
  await set?.close();
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Writes one image row and its vector in `tx`; returns the row for the index. */
async function writeImage(tx: Queryable): Promise<{ id: number; vector: Float32Array }> {
  n++;
  const { image } = await new ImagesRepository(tx).insertWithCaptions(
    {
      sha256: createHash('sha256').update(`rule-${n}`).digest('hex'),
      uri: `file:///r/${n}.jpg`,
      width: 4,
      height: 4,
      format: 'jpeg',
      bytes: 1,
    },
    [],
  );
  const row = { id: image.id, vector: unitVectors(1, DIMS, n) };
  await new VectorsRepository(tx).upsert('image', FP, [row]);
  return row;
}

const rowCount = async (id: number) =>
  (
    await db.query<{ n: number }>('SELECT count(*)::int AS n FROM image_vectors WHERE image_id = $1', [id])
  )[0]!.n;

describe('index lifecycle rules', () => {
  it('1. a vector enters the index only after its row commits, and never when the transaction rolls back', async () => {
    let seenDuring: boolean | undefined;
    const row = await commitThenIndex(db, set, async (tx, changes) => {
      const r = await writeImage(tx);
      changes.add('image', [r]);
      seenDuring = set.images.has(r.id);
      return r;
    });
    expect(seenDuring).toBe(false);
    expect(set.images.has(row.id)).toBe(true);

    let rolledBack = 0;
    await expect(
      commitThenIndex(db, set, async (tx, changes) => {
        const r = await writeImage(tx);
        rolledBack = r.id;
        changes.add('image', [r]);
        throw new Error('the database refused the batch');
      }),
    ).rejects.toThrow('refused');
    expect(set.images.has(rolledBack)).toBe(false);
    expect(await rowCount(rolledBack)).toBe(0);
  });

  it('2. a deleted row leaves the index once the delete commits, and stays when the delete rolls back', async () => {
    const row = await commitThenIndex(db, set, async (tx, changes) => {
      const r = await writeImage(tx);
      changes.add('image', [r]);
      return r;
    });
    await expect(
      commitThenIndex(db, set, async (tx, changes) => {
        await new ImagesRepository(tx).softDelete(row.id);
        changes.remove('image', [row.id]);
        throw new Error('lost the connection');
      }),
    ).rejects.toThrow('lost');
    expect(set.images.has(row.id)).toBe(true);
    await commitThenIndex(db, set, async (tx, changes) => {
      await new ImagesRepository(tx).softDelete(row.id);
      changes.remove('image', [row.id]);
    });
    expect(set.images.has(row.id)).toBe(false);
  });

  it('3. a change buffer used after its transaction ended is an invariant violation', async () => {
    let leaked: IndexChanges | undefined;
    const row = await commitThenIndex(db, set, async (tx, changes) => {
      leaked = changes;
      return writeImage(tx);
    });
    expect(() => leaked!.add('image', [row])).toThrow(/Invariant violated: .*rule 3/);
    expect(() => leaked!.remove('image', [row.id])).toThrow(/rule 3/);
    expect(set.images.has(row.id)).toBe(false);
  });

  it('4. a vector of another size never enters the index: the transaction rolls back', async () => {
    let id = 0;
    await expect(
      commitThenIndex(db, set, async (tx, changes) => {
        const r = await writeImage(tx);
        id = r.id;
        changes.add('image', [{ id: r.id, vector: new Float32Array(DIMS + 1) }]);
      }),
    ).rejects.toThrow(/rule 4/);
    expect(set.images.has(id)).toBe(false);
    expect(await rowCount(id)).toBe(0);
  });

  it('5. a rows-only process (a worker) commits rows and touches no index; the index derives them later', async () => {
    const before = set.images.size;
    const row = await commitThenIndex(db, rowsOnly(set), async (tx, changes) => {
      const r = await writeImage(tx);
      changes.add('image', [r]);
      return r;
    });
    expect(await rowCount(row.id)).toBe(1);
    expect(set.images.size).toBe(before);
    expect(set.images.has(row.id)).toBe(false);
    // Reopening reconciles with Postgres: the row committed elsewhere is in the index now.
    await set.close();
    set = await openSet();
    expect(set.images.has(row.id)).toBe(true);
  });

  it('6. rows committed elsewhere enter as committed state: applied once, removed when gone, checked for size', async () => {
    const row = await commitThenIndex(db, rowsOnly(set), async (tx) => writeImage(tx));
    const target = asFollowTarget(set);
    expect(applyCommitted(target, { kind: 'image', live: [row], gone: [] })).toEqual({
      added: 1,
      removed: 0,
    });
    expect(applyCommitted(target, { kind: 'image', live: [row], gone: [] })).toEqual({
      added: 0,
      removed: 0,
    });
    expect(set.images.search(row.vector, 1)[0]!.id).toBe(row.id);
    expect(applyCommitted(target, { kind: 'image', live: [], gone: [row.id] })).toEqual({
      added: 0,
      removed: 1,
    });
    expect(set.images.has(row.id)).toBe(false);
    expect(() =>
      applyCommitted(target, {
        kind: 'image',
        live: [{ id: row.id, vector: new Float32Array(3) }],
        gone: [],
      }),
    ).toThrow(/rule 4/);
  });
});
