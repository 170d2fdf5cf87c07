import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { HnswIndex } from '../src/store/vector/hnsw-index.ts';
import { createRng } from '../src/train/rng.ts';
import { runCli } from './lib/cli.ts';

/**
 * What keeping an HNSW index healthy costs: building it, the graph rebuild that deleting half of
 * it triggers on the next add (HnswIndex.compactAt), and a checkpoint's save with its read-back
 * verification and checksum, then a checked load.
 * Usage: npx tsx scripts/bench-index-repair.ts --n 100000 --dims 256
 */
const program = new Command('bench-index-repair')
  .option('--n <n>', 'vectors', (v) => Number.parseInt(v, 10), 100_000)
  .option('--dims <d>', 'dimensions', (v) => Number.parseInt(v, 10), 256)
  .option('--seed <s>', 'generator seed', (v) => Number.parseInt(v, 10), 1);

runCli(async () => {
  const { n, dims, seed } = program.parse().opts<{ n: number; dims: number; seed: number }>();
  const rng = createRng(seed);
  const vectors = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dims; d++) norm += (vectors[i * dims + d] = rng.normal()) ** 2;
    for (let d = 0; d < dims; d++) vectors[i * dims + d]! /= Math.sqrt(norm);
  }
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const index = HnswIndex.create(dims, { initialCapacity: n });
  // CPU time too: on a shared machine wall time mostly measures the neighbours.
  const timed = async <T>(label: string, fn: () => T | Promise<T>): Promise<T> => {
    const start = performance.now();
    const cpu = process.cpuUsage();
    const result = await fn();
    const used = process.cpuUsage(cpu);
    const wall = (performance.now() - start) / 1000;
    console.log(`${label}: wall ${wall.toFixed(2)} s, cpu ${((used.user + used.system) / 1e6).toFixed(2)} s`);
    return result;
  };
  console.log(
    `${n} x ${dims} random unit vectors, M=${index.params.m}, efConstruction=${index.params.efConstruction}`,
  );
  await timed(`build ${n}`, () => index.add(ids, vectors));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-repair-'));
  try {
    const snapshot = await timed(`save ${n} (write + fsync + read-back + sha256)`, () =>
      index.save(dir, 'a.hnsw'),
    );
    console.log(`  file ${(snapshot.bytes / 1e6).toFixed(1)} MB`);
    await timed(`load ${n} (size + sha256 + read)`, () => HnswIndex.load(dir, snapshot));

    const half = Math.ceil(n / 2);
    await timed(`delete ${half}`, () => index.remove(ids.slice(0, half)));
    const extra = new Float32Array(vectors.subarray(0, dims));
    await timed(`next add: compaction rebuilding ${n - half} live vectors`, () => index.add([n + 1], extra));
    console.log(`  compactions: ${index.compactions}, deleted left: ${index.deletedIds().length}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
