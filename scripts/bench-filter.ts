import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { compareRanked } from '../src/search/cursor.ts';
import { exactTopK, retrieve, type RetrieveDeps } from '../src/search/retrieve.ts';
import type { ScoredId } from '../src/search/types.ts';
import type { ImageFilter } from '../src/store/image-filter.ts';
import { ImagesRepository } from '../src/store/images.repository.ts';
import { migrate } from '../src/store/migrate.ts';
import { openPgliteDb } from '../src/store/pglite-db.ts';
import { VectorsRepository } from '../src/store/vectors.repository.ts';
import { HnswIndex } from '../src/store/vector/hnsw-index.ts';
import { createRng } from '../src/train/rng.ts';
import { runCli, wholeNumber } from './lib/cli.ts';

/**
 * Filtered search over a broad filter (issue 9, item 11): p50 latency of the retrieval stage on
 * embedded PGlite, the filtered-HNSW path before (load up to 100k matching ids into a Set, walk
 * the graph with it) and after (candidates checked against the database in growing rounds), and
 * recall against the exact filtered top-k. Images are synthetic rows with seeded clustered vectors.
 */
const program = new Command('bench:filter')
  .description('p50 of filtered retrieval at a given selectivity, before and after the round-based path')
  .option('--n <n>', 'images', wholeNumber, 100_000)
  .option('--dims <d>', 'dimensions', wholeNumber, 128)
  .option(
    '--clusters <c>',
    'cluster centres (embeddings cluster; uniform noise is HNSW worst case)',
    wholeNumber,
    100,
  )
  .option('--queries <q>', 'timed queries per case', wholeNumber, 30)
  .option('--k <list>', 'k values (the engine asks maxWindow = 1000 on every page)', '11,1000')
  .option('--seed <seed>', 'generator seed', wholeNumber, 42);

interface Options {
  n: number;
  dims: number;
  clusters: number;
  queries: number;
  k: string;
  seed: number;
}

/** The filtered path as it was on main (ca2d0d7), for the "before" figure. */
async function before(query: Float32Array, k: number, filter: ImageFilter, deps: RetrieveDeps) {
  const small = await deps.filterIds(filter, deps.exactThreshold + 1);
  if (small.length <= deps.exactThreshold) {
    return exactTopK(query, await deps.vectors.get(deps.kind, deps.fingerprint, small), k);
  }
  const allowed = new Set(await deps.filterIds(filter, 100_000));
  const overFetch = Math.min(allowed.size, Math.ceil(k * 1.5) + 10);
  const results = deps.index.search(query, overFetch, { filter: allowed, ef: Math.max(overFetch, 64) });
  return results
    .filter((r) => allowed.has(r.id))
    .sort(compareRanked)
    .slice(0, k);
}

async function after(query: Float32Array, k: number, filter: ImageFilter, deps: RetrieveDeps) {
  return (await retrieve(query, k, filter, deps)).results;
}

runCli(async () => {
  const o = program.parse().opts<Options>();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-filter-'));
  const db = await openPgliteDb(dir);
  try {
    await migrate(db);
    const rng = createRng(o.seed);
    // Unit vectors around seeded centres, as bench:ann makes them: normalise(centre + noise).
    const centres = Array.from({ length: o.clusters }, () =>
      Float32Array.from({ length: o.dims }, () => rng.normal()),
    );
    const sigma = 1 / Math.sqrt(o.dims);
    const unit = () => {
      const centre = rng.pick(centres);
      const v = new Float32Array(o.dims);
      let norm = 0;
      for (let d = 0; d < o.dims; d++)
        norm += (v[d] = (centre[d] as number) / Math.sqrt(o.dims) + sigma * rng.normal()) ** 2;
      for (let d = 0; d < o.dims; d++) v[d] = (v[d] as number) / Math.sqrt(norm);
      return v;
    };
    let t = performance.now();
    const images = new ImagesRepository(db);
    const vectors = new VectorsRepository(db);
    const index = HnswIndex.create(o.dims, { initialCapacity: o.n });
    const BATCH = 2000;
    for (let start = 0; start < o.n; start += BATCH) {
      const rows: { id: number; vector: Float32Array }[] = [];
      const batch = Array.from({ length: Math.min(o.n, start + BATCH) - start }, (_, j) => start + j);
      const ids = await images.insertMany(
        batch.map((i) => ({
          sha256: i.toString(16).padStart(64, '0'),
          uri: `file:///bench/${i}.png`,
          width: 64,
          height: 64,
          format: 'png',
          bytes: 1000,
          metadata: { s1: i % 100 === 0, s10: i % 10 === 0, s50: i % 2 === 0 },
        })),
      );
      ids.forEach((id) => rows.push({ id, vector: unit() }));
      await vectors.upsert('image', 'bench', rows);
      const flat = new Float32Array(rows.length * o.dims);
      rows.forEach((r, i) => flat.set(r.vector, i * o.dims));
      index.add(
        rows.map((r) => r.id),
        flat,
      );
    }
    log(
      `seeded ${o.n} images x ${o.dims} dims into PGlite + HNSW in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    const deps: RetrieveDeps = {
      kind: 'image',
      index,
      vectors,
      fingerprint: 'bench',
      filterIds: (filter, limit) => images.filterIds(filter, limit),
      filterAmong: (ids, filter) => images.filterAmong(ids, filter),
      exactThreshold: 2000,
    };
    const queries = Array.from({ length: o.queries }, unit);
    const rows: Record<string, unknown>[] = [];
    // No filter, for scale: the engine used to ask k = first + 1 (ef 64) for a first page; it now
    // ranks the whole paging window (k = ef = 1000) on every page.
    for (const [name, k] of [
      ['before (k 11)', 11],
      ['after (k 1000)', 1000],
    ] as const) {
      index.search(queries[0]!, k);
      const ms: number[] = [];
      for (const q of queries) {
        t = performance.now();
        index.search(q, k);
        ms.push(performance.now() - t);
      }
      ms.sort((a, b) => a - b);
      rows.push({ selectivity: 'none', k, path: name, p50_ms: round(ms[Math.floor(ms.length / 2)]!, 1) });
    }
    for (const [label, filter] of [
      ['10%', { metadata: { s10: true } }],
      ['50%', { metadata: { s50: true } }],
    ] as const) {
      const allowed = await images.filterIds(filter, 100_000);
      const truthVectors = await vectors.get('image', 'bench', allowed);
      for (const k of o.k.split(',').map(wholeNumber)) {
        for (const [name, run] of [
          ['before', before],
          ['after', after],
        ] as const) {
          await run(queries[0]!, k, filter, deps); // warm-up
          const ms: number[] = [];
          let recall = 0;
          for (const q of queries) {
            t = performance.now();
            const got: ScoredId[] = await run(q, k, filter, deps);
            ms.push(performance.now() - t);
            const truth = new Set(exactTopK(q, truthVectors, k).map((h) => h.id));
            recall += got.filter((h) => truth.has(h.id)).length / truth.size;
          }
          ms.sort((a, b) => a - b);
          rows.push({
            selectivity: label,
            k,
            path: name,
            p50_ms: round(ms[Math.floor(ms.length / 2)]!, 1),
            p90_ms: round(ms[Math.floor(ms.length * 0.9)]!, 1),
            recall: round(recall / queries.length, 4),
          });
        }
      }
    }
    console.table(rows);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});

function round(v: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
