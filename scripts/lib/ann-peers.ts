import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { HierarchicalNSW } from 'hnswlib-node';
import usearch from 'usearch';
import type { HnswIndex } from '../../src/store/vector/hnsw-index.ts';
import type { SearchHit } from '../../src/store/vector/types.ts';

/**
 * bench:ann's peers, side by side with our HnswIndex: bare hnswlib-node on the same graph (what
 * our wrapper costs) and usearch (another HNSW library) at matched recall.
 */

export interface OverheadRow {
  ef: number;
  oursQps: number;
  bareQps: number;
  oursOverBare: number;
}

const ROUNDS = 3;

function timeQps(queries: number, run: () => void): number {
  const started = performance.now();
  run();
  return queries / ((performance.now() - started) / 1000);
}

/**
 * HnswIndex.searchArray against searchKnn on the very graph it wraps, at the same ef, taking
 * turns over rounds (best round kept) so load from other processes hits both alike.
 */
export function wrapperOverhead(
  hnsw: HnswIndex,
  queries: number[][],
  k: number,
  efs: number[],
): OverheadRow[] {
  // The graph itself, not a second build: read through the private field on purpose.
  const native = (hnsw as unknown as { native: HierarchicalNSW }).native;
  return efs.map((ef) => {
    let ours = 0;
    let bare = 0;
    for (let round = 0; round < ROUNDS; round++) {
      ours = Math.max(
        ours,
        timeQps(queries.length, () => queries.forEach((q) => hnsw.searchArray(q, k, { ef }))),
      );
      bare = Math.max(
        bare,
        timeQps(queries.length, () => {
          native.setEf(ef);
          queries.forEach((q) => native.searchKnn(q, k));
        }),
      );
    }
    return {
      ef,
      oursQps: Math.round(ours),
      bareQps: Math.round(bare),
      oursOverBare: Number((ours / bare).toFixed(3)),
    };
  });
}

export interface RecallRow {
  index: string;
  ef: number;
  recall: number;
  qps: number;
}

/**
 * usearch with the same M and efConstruction, inner product on the same unit vectors, one query
 * per call on one thread (as hnswlib answers them). Its search ef is fixed per Index object, so the
 * graph is built once, saved, and loaded into one Index per ef.
 */
export async function usearchSweep(
  data: Float32Array,
  dims: number,
  queries: Float32Array,
  k: number,
  truth: SearchHit[][],
  params: { m: number; efConstruction: number; efs: number[] },
): Promise<{ rows: RecallRow[]; buildMs: number }> {
  const n = data.length / dims;
  const config = (ef: number) => ({
    dimensions: dims,
    metric: usearch.MetricKind.IP,
    connectivity: params.m,
    expansion_add: params.efConstruction,
    expansion_search: ef,
    quantization: usearch.ScalarKind.F32,
    multi: false,
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-ann-usearch-'));
  try {
    const file = path.join(dir, 'index.usearch');
    let started = performance.now();
    const built = new usearch.Index(config(params.efs[0]!));
    built.add(
      BigUint64Array.from({ length: n }, (_, i) => BigInt(i)),
      data,
      0,
    );
    const buildMs = performance.now() - started;
    built.save(file);
    const nq = queries.length / dims;
    const rows: RecallRow[] = [];
    for (const ef of params.efs) {
      const index = new usearch.Index(config(ef));
      index.load(file);
      const query = (i: number) => queries.subarray(i * dims, (i + 1) * dims);
      index.search(query(0), k, 1); // warm-up
      const results: bigint[][] = [];
      started = performance.now();
      for (let i = 0; i < nq; i++) results.push([...index.search(query(i), k, 1).keys]);
      const qps = nq / ((performance.now() - started) / 1000);
      let found = 0;
      results.forEach((keys, i) => {
        const want = new Set(truth[i]!.map((h) => BigInt(h.id)));
        found += keys.filter((key) => want.has(key)).length;
      });
      rows.push({
        index: 'usearch',
        ef,
        recall: Number((found / (nq * k)).toFixed(4)),
        qps: Math.round(qps),
      });
    }
    return { rows, buildMs: Math.round(buildMs) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** QPS at the smallest ef whose recall reaches `recall`, or undefined when none does. */
export function qpsAtRecall(rows: readonly RecallRow[], recall: number): RecallRow | undefined {
  return [...rows].sort((a, b) => a.ef - b.ef).find((r) => r.recall >= recall);
}

/** How this install's hnswlib-node was compiled (written by scripts/build-hnswlib-native.mjs). */
export function hnswlibBuild(): string {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('hnswlib-node/package.json'));
  const marker = path.join(dir, 'build', 'Release', 'native-build.json');
  if (!existsSync(marker)) return "portable (the package's own flags)";
  const info = JSON.parse(readFileSync(marker, 'utf8')) as { flags: string; cpu: string };
  return `native (${info.flags}, ${info.cpu})`;
}
