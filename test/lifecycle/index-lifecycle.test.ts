import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { openIndexes, type IndexSet } from '../../src/store/vector/index.ts';
import type { SearchHit } from '../../src/store/vector/types.ts';
import type { VectorKind } from '../../src/store/vectors.repository.ts';
import { announceSkip, backends, useMigratedDb } from '../setup/databases.ts';
import { unitVectors } from '../vector/vectors.ts';
import { Collection } from './collection.ts';
import { startWatchdog, type Watchdog } from './watchdog.ts';

/**
 * The index lifecycle contract: in every state an index can be in, every operation gives the
 * answer exact search over the database gives. Each step runs under a watchdog, so a step that
 * hangs (the saved-empty index once did) fails the run instead of stalling CI.
 */

const DIMS = 16;
const KINDS: readonly VectorKind[] = ['image', 'caption'];
const QUERIES = 3;

/** One scenario's world: a collection in the database and an index directory of its own. */
interface World {
  collection: Collection;
  set: IndexSet;
  open(extra?: { rebuild?: boolean }): Promise<IndexSet>;
}

/** Commits `n` images (one caption each) and then adds them to the index, as the pipeline does. */
async function addImages(w: World, n: number): Promise<number[]> {
  const { imageIds, captionIds } = await w.collection.addImages(n);
  w.set.add(
    'image',
    imageIds,
    imageIds.map((id) => w.collection.vectorOf('image', id)),
  );
  w.set.add(
    'caption',
    captionIds,
    captionIds.map((id) => w.collection.vectorOf('caption', id)),
  );
  return imageIds;
}

async function deleteImage(w: World, imageId: number): Promise<void> {
  const captionIds = await w.collection.deleteImage(imageId);
  w.set.markDeleted('image', [imageId]);
  w.set.markDeleted('caption', captionIds);
}

async function reopen(w: World, extra: { rebuild?: boolean } = {}): Promise<void> {
  await w.set.close();
  w.set = await w.open(extra);
}

const STATES: Record<string, (w: World) => Promise<void>> = {
  'never written': async () => {},
  'saved empty': (w) => reopen(w),
  'one item': async (w) => {
    await addImages(w, 1);
  },
  // 100 deleted, then a few adds, left most new items unreachable.
  'all deleted': async (w) => {
    for (const id of await addImages(w, 100)) await deleteImage(w, id);
  },
  'mostly deleted': async (w) => {
    for (const id of (await addImages(w, 110)).slice(0, 100)) await deleteImage(w, id);
  },
  'after a restart': async (w) => {
    for (const id of (await addImages(w, 12)).slice(0, 3)) await deleteImage(w, id);
    await reopen(w);
    expect(w.set.reconciled.image).toMatchObject({ added: 0, deleted: 0 });
  },
  'after a model change': async (w) => {
    for (const id of (await addImages(w, 10)).slice(0, 2)) await deleteImage(w, id);
    await w.set.close();
    await w.collection.reembed(`${w.collection.fingerprint}-retrained`);
    w.set = await w.open();
    // Nothing saved for the new models: built from the database's new vectors.
    expect(w.set.reconciled.image).toMatchObject({ added: 8, deleted: 0 });
  },
};

async function firstLiveImage(w: World): Promise<number> {
  const ids = [...(await w.collection.live('image')).keys()];
  return ids.length > 0 ? Math.min(...ids) : (await addImages(w, 1))[0]!;
}

const OPERATIONS: Record<string, (w: World) => Promise<void>> = {
  add: async (w) => {
    // One at a time, as mutations arrive: each lands in the graph as it is at that moment.
    for (let i = 0; i < 6; i++) await addImages(w, 1);
    await expectSameContents(w);
  },
  'add captions': async (w) => {
    const imageId = await firstLiveImage(w);
    const ids = await w.collection.addCaptions(imageId, 2);
    w.set.add(
      'caption',
      ids,
      ids.map((id) => w.collection.vectorOf('caption', id)),
    );
    await expectSameContents(w);
  },
  delete: async (w) => {
    await deleteImage(w, await firstLiveImage(w));
    await expectSameContents(w);
  },
  search: async (w) => {
    for (const kind of KINDS) {
      for (const q of queries())
        expectHits(index(w, kind).search(q, 5), await w.collection.exact(kind, q, 5));
    }
  },
  'filtered search': async (w) => {
    for (const kind of KINDS) {
      const allowed = await w.collection.widthAtLeast(kind, 15);
      for (const q of queries()) {
        const truth = await w.collection.exact(kind, q, 4, allowed);
        // A Set takes the exact-subset path, a predicate the graph walk: both must agree.
        expectHits(index(w, kind).search(q, 4, { filter: allowed }), truth);
        expectHits(index(w, kind).search(q, 4, { filter: (id) => allowed.has(id) }), truth);
      }
    }
  },
  'page through everything': async (w) => {
    const pageSize = 3;
    for (const kind of KINDS) {
      for (const q of queries()) {
        const truth = await w.collection.exact(kind, q, Number.MAX_SAFE_INTEGER);
        const pages: SearchHit[] = [];
        for (let page = 0; page * pageSize < truth.length + pageSize; page++) {
          const hits = index(w, kind).search(q, (page + 1) * pageSize);
          pages.push(...hits.slice(page * pageSize));
        }
        expectHits(pages, truth);
      }
    }
  },
  'reindex (rebuild)': async (w) => {
    await reopen(w, { rebuild: true });
    await expectSameContents(w);
  },
};

function index(w: World, kind: VectorKind) {
  return kind === 'image' ? w.set.images : w.set.captions;
}

function queries(): Float32Array[] {
  const data = unitVectors(QUERIES, DIMS, 99);
  return Array.from({ length: QUERIES }, (_, i) => data.slice(i * DIMS, (i + 1) * DIMS));
}

function expectHits(actual: SearchHit[], expected: SearchHit[]): void {
  expect(actual.map((h) => h.id)).toEqual(expected.map((h) => h.id));
  actual.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.score, 5));
}

/** The index holds exactly the database's live ids, and each one is found by its own vector. */
async function expectSameContents(w: World): Promise<void> {
  for (const kind of KINDS) {
    const live = await w.collection.live(kind);
    expect(
      index(w, kind)
        .ids()
        .sort((a, b) => a - b),
    ).toEqual([...live.keys()].sort((a, b) => a - b));
    const lost = [...live].filter(([id, v]) => index(w, kind).search(v, 1)[0]?.id !== id).map(([id]) => id);
    expect({ kind, lost }).toEqual({ kind, lost: [] });
  }
}

let watchdog: Watchdog;
beforeAll(() => {
  watchdog = startWatchdog();
});
afterAll(async () => {
  await watchdog.stop();
});

describe.each(backends.map((b) => [b.name, b] as const))('index lifecycle [%s]', (_name, backend) => {
  const skip = announceSkip(backend, 'index lifecycle');
  const database = useMigratedDb(backend, skip);
  let scenario = 0;

  it.skipIf(skip).each(Object.keys(STATES))(
    'from the state "%s", every operation answers as exact search over the database',
    async (state) => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lifecycle-'));
      const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
      const collection = new Collection(database.get(), `lifecycle-${++scenario}`, DIMS, `s${scenario}`);
      const open = (extra: { rebuild?: boolean } = {}) =>
        openIndexes({
          config,
          db: collection.db,
          fingerprint: collection.fingerprint,
          dims: DIMS,
          logger: silentLogger,
          ...extra,
        });
      const world: World = { collection, open, set: await open() };
      try {
        await watchdog.guard(`${backend.name}: enter "${state}"`, () => STATES[state]!(world));
        await expectSameContents(world);
        for (const [name, operation] of Object.entries(OPERATIONS)) {
          await watchdog.guard(`${backend.name}: "${state}" then ${name}`, () => operation(world));
        }
      } finally {
        await world.set.close();
        await collection.deleteAll();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );
});
