/**
 * Issue 9, item 11: a broad filter is searched by checking HNSW candidates against the database in
 * growing rounds. The results must equal the exact filtered top-k at 1%, 10% and 50% selectivity,
 * on PGlite and PostgreSQL, with real hnswlib, over a collection past the exact-search threshold.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { retrieve, exactTopK, type RetrieveDeps } from '../../src/search/retrieve.ts';
import type { ScoredId } from '../../src/search/types.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import { VectorsRepository } from '../../src/store/vectors.repository.ts';
import { HnswIndex } from '../../src/store/vector/hnsw-index.ts';
import type { ImageFilter } from '../../src/store/image-filter.ts';
import { announceSkip, backends, useMigratedDb } from '../setup/databases.ts';
import { row, unitVectors } from '../vector/vectors.ts';

const N = 3000;
const DIMS = 32;
const FP = 'fp-filtered-search';
/** Far below the collection, so every selectivity here takes the HNSW path (1% of 3000 = 30). */
const EXACT_THRESHOLD = 20;
const SELECTIVITY: [string, ImageFilter][] = [
  ['1%', { metadata: { s1: true } }],
  ['10%', { metadata: { s10: true } }],
  ['50%', { metadata: { s50: true } }],
];

/** Same ids in the same order; scores within float32 rounding (hnswlib sums in float32). */
function expectSameHits(got: ScoredId[], want: ScoredId[], context: string): void {
  expect(
    got.map((h) => h.id),
    context,
  ).toEqual(want.map((h) => h.id));
  got.forEach((h, i) => expect(Math.abs(h.score - want[i]!.score), context).toBeLessThan(1e-6));
}

describe.each(backends.map((b) => [b.name, b] as const))('filtered HNSW search [%s]', (_name, backend) => {
  const skip = announceSkip(backend, 'filtered HNSW search');
  const database = useMigratedDb(backend, skip);
  const index = HnswIndex.create(DIMS, { initialCapacity: N });
  const data = unitVectors(N, DIMS, 5);
  let images: ImagesRepository;
  let deps: RetrieveDeps;
  /** Every `limit` retrieve asked filterIds for: the old path loaded up to 100k ids per query. */
  const idLimits: number[] = [];

  beforeAll(async () => {
    if (skip) return;
    const db = database.get();
    images = new ImagesRepository(db);
    const vectors = new VectorsRepository(db);
    const ids = await images.insertMany(
      Array.from({ length: N }, (_, i) => ({
        sha256: i.toString(16).padStart(64, '0'),
        uri: `file:///img/${i}.png`,
        width: 10,
        height: 10,
        format: 'png',
        bytes: 100,
        metadata: { s1: i % 100 === 0, s10: i % 10 === 0, s50: i % 2 === 0 },
      })),
    );
    // insertMany hands ids back in input order.
    const stored = new Map((await images.getByIds(ids)).map((r) => [r.id, r.uri]));
    expect(ids.map((id) => stored.get(id))).toEqual(ids.map((_, i) => `file:///img/${i}.png`));
    await vectors.upsert(
      'image',
      FP,
      ids.map((id, i) => ({ id, vector: row(data, i, DIMS) })),
    );
    index.add(ids, data);
    // Deleted images stay in the HNSW graph (marked) and must never come back.
    for (const id of ids.filter((_, i) => i % 7 === 0)) {
      await images.softDelete(id);
      index.remove([id]);
    }
    deps = {
      kind: 'image',
      index,
      vectors,
      fingerprint: FP,
      filterIds: (filter, limit) => {
        idLimits.push(limit);
        return images.filterIds(filter, limit);
      },
      filterAmong: (candidates, filter) => images.filterAmong(candidates, filter),
      exactThreshold: EXACT_THRESHOLD,
    };
  });

  it.skipIf(skip).each(SELECTIVITY)(
    'equals the exact filtered top-k at %s selectivity',
    async (_label, filter) => {
      const allowed = await images.filterIds(filter, N);
      expect(allowed.length).toBeGreaterThan(EXACT_THRESHOLD);
      const allowedVectors = await deps.vectors.get('image', FP, allowed);
      for (const q of [0, 1, 2, 3, 4]) {
        const query = unitVectors(1, DIMS, 100 + q);
        for (const k of [10, 100]) {
          const got = await retrieve(query, k, filter, deps);
          expect(got.strategy).toBe('hnsw-filtered');
          expectSameHits(got.results, exactTopK(query, allowedVectors, k), `query ${q}, k ${k}`);
        }
      }
      // Only the exact-path probe (threshold + 1 ids) loads matching ids; a broad set never is.
      expect(new Set(idLimits)).toEqual(new Set([EXACT_THRESHOLD + 1]));
    },
  );

  it.skipIf(skip)('returns every allowed item when k exceeds them, the index exhausted', async () => {
    const filter = SELECTIVITY[0]![1];
    const allowed = await images.filterIds(filter, N);
    const query = unitVectors(1, DIMS, 99);
    const got = await retrieve(query, allowed.length + 50, filter, deps);
    expectSameHits(got.results, exactTopK(query, await deps.vectors.get('image', FP, allowed), N), 'all');
  });
});
