import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { loadConfig } from '../src/config.ts';
import { ExactIndex } from '../src/store/vector/exact-index.ts';
import { HnswIndex } from '../src/store/vector/hnsw-index.ts';
import type { SearchHit } from '../src/store/vector/types.ts';
import { hnswlibBuild, qpsAtRecall, usearchSweep, wrapperOverhead, type RecallRow } from './lib/ann-peers.ts';
import { checkOutputPath, runCli, wholeNumber } from './lib/cli.ts';
import { clusteredWorkload, type ClusteredWorkload } from './lib/clustered-vectors.ts';

/**
 * HNSW against brute force on clustered unit vectors: recall@k and QPS per ef, measured side by
 * side in one process. metric = HNSW QPS at the smallest ef reaching recall 0.98, over exact QPS.
 */
const program = new Command('bench:ann')
  .description('Benchmark HnswIndex recall@10 / QPS against ExactIndex on seeded clustered vectors')
  .option('--n <n>', 'vectors in the index', wholeNumber, 100_000)
  .option('--dims <d>', 'dimensions', wholeNumber, 512)
  .option('--queries <q>', 'queries (not in the index)', wholeNumber, 200)
  .option('--k <k>', 'neighbours per query', wholeNumber, 10)
  .option('--clusters <c>', 'cluster centres', wholeNumber, 100)
  .option('--ef <list>', 'ef values to sweep (finer where recall crosses 0.98)', '16,32,48,64,80,96,128,256')
  .option('--seed <seed>', 'generator seed', wholeNumber, 42)
  .option('--no-peers', 'skip bare hnswlib-node and usearch')
  .option('--json <path>', 'also write the result as JSON');

interface Options extends ClusteredWorkload {
  k: number;
  ef: string;
  peers: boolean;
  json?: string;
}

const TARGET = 200;
const RECALL = 0.98;

runCli(async () => {
  const o = program.parse().opts<Options>();
  await checkOutputPath(o.json);
  const config = loadConfig();
  const { m, efConstruction } = config.hnsw;
  const efs = o.ef.split(',').map(wholeNumber);

  const { data, queries } = clusteredWorkload(o);
  const ids = Array.from({ length: o.n }, (_, i) => i);
  log(
    `${o.n} x ${o.dims} clustered unit vectors (${o.clusters} clusters), ${o.queries} queries, k=${o.k}, M=${m}, efConstruction=${efConstruction}`,
  );

  // What hnswlib-node's number[] interface costs: Float32Array -> Array, once per vector.
  let t = performance.now();
  for (let i = 0; i < o.n; i++) Array.from(data.subarray(i * o.dims, (i + 1) * o.dims));
  const convertAllMs = performance.now() - t;

  t = performance.now();
  const exact = new ExactIndex(o.dims, o.n);
  exact.add(ids, data);
  const exactBuildMs = performance.now() - t;

  t = performance.now();
  const hnsw = HnswIndex.create(o.dims, { m, efConstruction, initialCapacity: o.n });
  const chunk = 10_000;
  for (let i = 0; i < o.n; i += chunk) {
    const end = Math.min(o.n, i + chunk);
    hnsw.add(ids.slice(i, end), data.subarray(i * o.dims, end * o.dims));
    log(`  built ${end}/${o.n} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }
  const hnswBuildMs = performance.now() - t;

  // Ground truth and exact QPS in the same pass.
  const query = (i: number) => queries.subarray(i * o.dims, (i + 1) * o.dims);
  t = performance.now();
  const truth: SearchHit[][] = [];
  for (let i = 0; i < o.queries; i++) truth.push(exact.search(query(i), o.k));
  const exactQps = o.queries / ((performance.now() - t) / 1000);

  // Convert every query once; the sweep below reuses the arrays for every ef.
  t = performance.now();
  const plain = Array.from({ length: o.queries }, (_, i) => Array.from(query(i)));
  const convertQueryUs = ((performance.now() - t) * 1000) / o.queries;

  const rows: Record<string, number | string>[] = [
    { index: 'exact', ef: '-', recall: 1, qps: round(exactQps), speedup: 1 },
  ];
  for (const ef of efs) {
    hnsw.searchArray(plain[0]!, o.k, { ef }); // warm-up
    // Best of three passes: one pass at a small ef lasts a tenth of a second, short enough for a
    // single pause of a shared machine to halve its figure.
    let results: SearchHit[][] = [];
    let qps = 0;
    for (let pass = 0; pass < 3; pass++) {
      t = performance.now();
      results = plain.map((q) => hnsw.searchArray(q, o.k, { ef }));
      qps = Math.max(qps, o.queries / ((performance.now() - t) / 1000));
    }
    let found = 0;
    results.forEach((hits, i) => {
      const want = new Set(truth[i]!.map((h) => h.id));
      found += hits.filter((h) => want.has(h.id)).length;
    });
    const recall = found / (o.queries * o.k);
    rows.push({
      index: 'hnsw',
      ef,
      recall: round(recall, 4),
      qps: round(qps),
      speedup: round(qps / exactQps, 1),
    });
  }

  // The same sweep point through search(), which converts the Float32Array on each call.
  t = performance.now();
  for (let i = 0; i < o.queries; i++) hnsw.search(query(i), o.k, { ef: 64 });
  const withConversionQps = o.queries / ((performance.now() - t) / 1000);

  const reached = rows.find((r) => r.index === 'hnsw' && (r.recall as number) >= RECALL);
  const value = reached ? (reached.speedup as number) : 0;

  // Peers: the same graph through bare hnswlib-node, and usearch at matched recall.
  let peers: Record<string, unknown> = {};
  if (o.peers) {
    log('peers: bare hnswlib-node on the same graph, then usearch (build + sweep)');
    const overhead = wrapperOverhead(hnsw, plain, o.k, efs);
    const us = await usearchSweep(data, o.dims, queries, o.k, truth, { m, efConstruction, efs });
    const ours = qpsAtRecall(rows.filter((r) => r.index === 'hnsw') as unknown as RecallRow[], RECALL);
    const theirs = qpsAtRecall(us.rows, RECALL);
    const qpsOverUsearch = ours && theirs ? round(ours.qps / theirs.qps, 3) : null;
    console.table(overhead);
    console.table(us.rows);
    console.log(
      `usearch build ${(us.buildMs / 1000).toFixed(1)} s; qps_over_usearch at recall ${RECALL}: ${qpsOverUsearch ?? 'recall not reached by both'}` +
        (ours && theirs
          ? ` (ours ${ours.qps} at ef=${ours.ef}, usearch ${theirs.qps} at ef=${theirs.ef})`
          : ''),
    );
    peers = { overhead, usearch: us.rows, usearchBuildMs: us.buildMs, qps_over_usearch: qpsOverUsearch };
  }

  console.log();
  console.table(rows);
  console.log(
    [
      `build: hnsw ${(hnswBuildMs / 1000).toFixed(1)} s (${round(o.n / (hnswBuildMs / 1000))} vectors/s), exact ${(exactBuildMs / 1000).toFixed(2)} s`,
      `Float32Array -> number[]: ${(convertAllMs / 1000).toFixed(2)} s for all ${o.n} vectors (${((convertAllMs / hnswBuildMs) * 100).toFixed(1)}% of the build), ${convertQueryUs.toFixed(1)} us per query`,
      `ef=64 through search() (converting each query): ${round(withConversionQps)} qps`,
      `speedup_at_recall_${RECALL}: ${reached ? `${value}x at ef=${reached.ef}` : 'recall never reached'} (target ${TARGET})`,
      `hnswlib-node build: ${hnswlibBuild()}`,
    ].join('\n'),
  );
  if (o.json) {
    await writeFile(
      o.json,
      `${JSON.stringify(
        {
          metric: `speedup_at_recall_${RECALL}`,
          value,
          target: TARGET,
          rows,
          n: o.n,
          dims: o.dims,
          queries: o.queries,
          k: o.k,
          m,
          efConstruction,
          hnswBuildMs: round(hnswBuildMs),
          exactBuildMs: round(exactBuildMs),
          convertAllMs: round(convertAllMs),
          convertQueryUs: round(convertQueryUs, 2),
          qpsEf64WithConversion: round(withConversionQps),
          hnswlibBuild: hnswlibBuild(),
          ...peers,
        },
        null,
        2,
      )}\n`,
    );
  }
});

function round(v: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
