/**
 * pgvector (PGlite's WASM build, in-process) and hnswlib-node side by side on the same vectors:
 * build time, memory, recall@k and QPS per ef, and filtered search at several selectivities
 * through each backend's real search path. Used by `npm run bench:ann-backends`.
 */
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../../src/logger.ts';
import { hnswSearch } from '../../src/search/hnsw-search.ts';
import type { Db } from '../../src/store/db.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import { migrate } from '../../src/store/migrate.ts';
import { PgvectorRepository, type PgvectorTable } from '../../src/store/pgvector.repository.ts';
import { openPgliteDb } from '../../src/store/pglite-db.ts';
import { ExactIndex } from '../../src/store/vector/exact-index.ts';
import { HnswIndex } from '../../src/store/vector/hnsw-index.ts';
import { openPgvector, type PgvectorBackend } from '../../src/store/vector/pgvector-backend.ts';
import type { SearchHit, VectorSearch } from '../../src/store/vector/types.ts';
import { VectorsRepository } from '../../src/store/vectors.repository.ts';

export interface BackendsBenchOptions {
  data: Float32Array;
  queries: Float32Array;
  dims: number;
  k: number;
  efs: readonly number[];
  hnsw: { m: number; efConstruction: number };
  /** Selectivities of the filtered runs, as fractions (0.01 = 1%). */
  selectivities: readonly number[];
  log: (line: string) => void;
}

export interface SweepRow {
  backend: 'hnswlib' | 'pgvector';
  ef: number;
  recall: number;
  qps: number;
}

export interface FilteredRow {
  backend: 'hnswlib' | 'pgvector';
  selectivity: string;
  /** `index`: exact threshold 0, every search walks the graph; `served`: the default 2000. */
  path: 'index' | 'served';
  recall: number;
  qps: number;
}

export interface BackendsBenchResult {
  build: { hnswlibMs: number; pgvectorMs: number; pgvectorIndexMs: number };
  memory: { hnswlibRssMb: number; pgvectorRssMb: number; pgvectorTableMb: number; pgvectorIndexMb: number };
  sweep: SweepRow[];
  filtered: FilteredRow[];
}

const FP = 'bench-ann-backends';
/** pgvector keeps nothing under DATA_DIR; refuseUnembedded only lists it when vectors are missing. */
const NO_PATHS = {
  models: '',
  indexes: '',
  pg: '',
  cache: '',
  projections: '',
  samples: '',
  classifiers: '',
};
const SERVED_THRESHOLD = 2000;
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Which rows pass the filter of selectivity `s`: every round(1/s)-th one. */
const passes = (i: number, s: number) => i % Math.round(1 / s) === 0;
const label = (s: number) => `${+(s * 100).toFixed(2)}%`;

export async function benchBackends(o: BackendsBenchOptions): Promise<BackendsBenchResult> {
  const n = o.data.length / o.dims;
  const nq = o.queries.length / o.dims;
  const query = (i: number) => o.queries.subarray(i * o.dims, (i + 1) * o.dims);

  // hnswlib-node, in this process. RSS moves with everything else; measured around the build.
  let rss = process.memoryUsage().rss;
  let t = performance.now();
  const hnsw = HnswIndex.create(o.dims, { ...o.hnsw, initialCapacity: n });
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  hnsw.add(ids, o.data);
  const hnswlibMs = performance.now() - t;
  const hnswlibRssMb = mb(process.memoryUsage().rss - rss);
  o.log(`hnswlib built in ${(hnswlibMs / 1000).toFixed(1)} s`);

  // pgvector: images (the filter's rows) and bytea vectors, then the backend opens and moves them.
  const db = await openPgliteDb(undefined);
  try {
    await migrate(db);
    await loadRows(db, o, n);
    rss = process.memoryUsage().rss;
    t = performance.now();
    const backend = await openPgvector({
      // ef 40 is pgvector's default ef_search; the sweep below sets its own per query.
      config: { hnsw: { ...o.hnsw, ef: 40 }, paths: NO_PATHS },
      db,
      fingerprint: FP,
      dims: o.dims,
      logger: silentLogger,
    });
    const pgvectorMs = performance.now() - t;
    const pgvectorRssMb = mb(process.memoryUsage().rss - rss);
    const repo = new PgvectorRepository(db);
    const table = (await repo.registered('image', FP))!;
    const sizes = await repo.relationBytes(table);
    // The index build alone, timed again on a copy so the move above is not counted twice.
    const pgvectorIndexMs = await timeIndexBuild(db, table, o.hnsw);
    o.log(
      `pgvector built in ${(pgvectorMs / 1000).toFixed(1)} s (index alone ${(pgvectorIndexMs / 1000).toFixed(1)} s)`,
    );

    const exact = new ExactIndex(o.dims, n);
    exact.add(ids, o.data);
    const truth = Array.from({ length: nq }, (_, i) => exact.search(query(i), o.k));
    const sweep: SweepRow[] = [];
    for (const ef of o.efs) {
      const h = await measure(nq, truth, o.k, (i) => Promise.resolve(hnsw.search(query(i), o.k, { ef })));
      sweep.push({ backend: 'hnswlib', ef, ...h });
      const p = await measure(nq, truth, o.k, (i) =>
        db.transaction((tx) =>
          new PgvectorRepository(tx).nearest(table, query(i), o.k, undefined, { efSearch: ef }),
        ),
      );
      sweep.push({ backend: 'pgvector', ef, ...p });
      o.log(`  ef=${ef} done`);
    }
    const filtered = await filteredRuns(o, db, hnsw, backend, exact, nq, query);
    return {
      build: {
        hnswlibMs: Math.round(hnswlibMs),
        pgvectorMs: Math.round(pgvectorMs),
        pgvectorIndexMs: Math.round(pgvectorIndexMs),
      },
      memory: {
        hnswlibRssMb,
        pgvectorRssMb,
        pgvectorTableMb: mb(sizes.table),
        pgvectorIndexMb: mb(sizes.index),
      },
      sweep,
      filtered,
    };
  } finally {
    await db.close();
  }
}

async function loadRows(db: Db, o: BackendsBenchOptions, n: number): Promise<void> {
  const images = new ImagesRepository(db);
  const vectors = new VectorsRepository(db);
  const meta = (i: number) => Object.fromEntries(o.selectivities.map((s) => [`s${label(s)}`, passes(i, s)]));
  for (let start = 0; start < n; start += 2000) {
    const end = Math.min(n, start + 2000);
    const rows = Array.from({ length: end - start }, (_, j) => ({
      sha256: (start + j).toString(16).padStart(64, '0'),
      uri: `bench:${start + j}`,
      width: 1,
      height: 1,
      format: 'png',
      bytes: 1,
      metadata: meta(start + j),
    }));
    const got = await images.insertMany(rows);
    await vectors.upsert(
      'image',
      FP,
      got.map((id, j) => ({ id, vector: o.data.subarray((start + j) * o.dims, (start + j + 1) * o.dims) })),
    );
  }
}

async function timeIndexBuild(db: Db, table: PgvectorTable, params: { m: number; efConstruction: number }) {
  const repo = new PgvectorRepository(db);
  await repo.dropIndex(table);
  const t = performance.now();
  await repo.createIndex(table, params);
  return performance.now() - t;
}

function recallOf(got: readonly SearchHit[][], truth: readonly SearchHit[][], k: number): number {
  let found = 0;
  let wanted = 0;
  got.forEach((hits, i) => {
    const want = new Set(truth[i]!.slice(0, k).map((h) => h.id));
    wanted += want.size;
    found += hits.filter((h) => want.has(h.id)).length;
  });
  return wanted === 0 ? 1 : Math.round((found / wanted) * 10_000) / 10_000;
}

/** Queries one after another (a server answers one request per connection the same way). */
async function measure(
  nq: number,
  truth: readonly SearchHit[][],
  k: number,
  run: (i: number) => Promise<SearchHit[]>,
): Promise<{ recall: number; qps: number }> {
  await run(0); // warm-up
  const got: SearchHit[][] = [];
  const t = performance.now();
  for (let i = 0; i < nq; i++) got.push(await run(i));
  const qps = nq / ((performance.now() - t) / 1000);
  return { recall: recallOf(got, truth, k), qps: Math.round(qps) };
}

/** Each selectivity through each backend's real search seam, on its index path and as served. */
async function filteredRuns(
  o: BackendsBenchOptions,
  db: Db,
  hnsw: HnswIndex,
  backend: PgvectorBackend,
  exact: ExactIndex,
  nq: number,
  query: (i: number) => Float32Array,
): Promise<FilteredRow[]> {
  const images = new ImagesRepository(db);
  const hnswlib: VectorSearch = hnswSearch({
    kind: 'image',
    index: hnsw,
    vectors: new VectorsRepository(db),
    fingerprint: FP,
    filterIds: (filter, limit) => images.filterIds(filter, limit),
    filterAmong: (ids, filter) => images.filterAmong(ids, filter),
  });
  const rows: FilteredRow[] = [];
  for (const s of o.selectivities) {
    // Ids are 1..n in row order (a fresh database), so row i passes exactly when id i + 1 does.
    const truth = Array.from({ length: nq }, (_, i) =>
      exact.search(query(i), o.k, { filter: (id: number) => passes(id - 1, s) }),
    );
    const filter = { metadata: { [`s${label(s)}`]: true } };
    for (const [name, search] of [
      ['hnswlib', hnswlib],
      ['pgvector', backend.search.image],
    ] as const) {
      for (const [path, exactThreshold] of [
        ['index', 0],
        ['served', SERVED_THRESHOLD],
      ] as const) {
        const r = await measure(
          nq,
          truth,
          o.k,
          async (i) => (await search.knn(query(i), o.k, { filter, exactThreshold })).results,
        );
        rows.push({ backend: name, selectivity: label(s), path, ...r });
      }
    }
    o.log(`  filtered ${label(s)} done`);
  }
  return rows;
}
