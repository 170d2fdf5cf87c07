import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Command } from 'commander';
import { HnswIndex } from '../src/store/vector/hnsw-index.ts';
import { createRng } from '../src/train/rng.ts';
import { runCli, wholeNumber } from './lib/cli.ts';

/**
 * What keeping an HNSW index healthy costs: building it, the graph rebuild that deleting half of
 * it triggers on the next add (HnswIndex.compactAt), and a checkpoint's save with its read-back
 * verification and checksum, then a checked load. The rebuild runs twice on copies of one index:
 * synchronously (the CLI's way) and in the background in slices (the server's way), each under a
 * monitor of the longest event-loop block, with searches asked every turn of the background one.
 * Usage: npx tsx scripts/bench-index-repair.ts --n 100000 --dims 256 [--slice 32]
 */
const program = new Command('bench-index-repair')
  .option('--n <n>', 'vectors', wholeNumber, 100_000)
  .option('--dims <d>', 'dimensions', wholeNumber, 256)
  .option('--seed <s>', 'generator seed', wholeNumber, 1)
  .option('--slice <s>', 'rebuildSlice of the background rebuild', wholeNumber, 32);

/** Measures the longest gap between event-loop turns until stopped: how long the loop was blocked. */
function blockMonitor() {
  // CPU time too: on a shared machine a wall-clock gap also counts time the OS gave to others.
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const gaps: number[] = [];
  let longestCpuMs = 0;
  let running = true;
  const tick = () => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    gaps.push(now - last);
    longestCpuMs = Math.max(longestCpuMs, (cpu.user + cpu.system) / 1000);
    last = now;
    lastCpu = process.cpuUsage();
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return async () => {
    running = false;
    await nextTurn(); // the turn after the work: the gap up to it counts
    const longestMs = Math.max(...gaps);
    const sorted = [...gaps].sort((a, b) => a - b);
    const at = (q: number) =>
      (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(1);
    const where = `turn ${gaps.indexOf(longestMs) + 1} of ${gaps.length}`;
    return {
      longestMs,
      turns: gaps.length,
      summary:
        `wall p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, longest at ${where}; ` +
        `longest in CPU time ${longestCpuMs.toFixed(1)} ms`,
    };
  };
}

runCli(async () => {
  const opts = program.parse().opts<{ n: number; dims: number; seed: number; slice: number }>();
  const { n, dims, seed, slice } = opts;
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
    const half = Math.ceil(n / 2);
    const extra = new Float32Array(vectors.subarray(0, dims));
    const query = Array.from(vectors.subarray(dims * (n - 1)));

    // Before: the whole rebuild in the add's own turn.
    const sync = await timed(`load ${n} (size + sha256 + read)`, () => HnswIndex.load(dir, snapshot));
    await timed(`delete ${half}`, () => sync.remove(ids.slice(0, half)));
    let monitor = blockMonitor();
    await timed(`sync: next add rebuilds ${n - half} live vectors`, () => sync.add([n + 1], extra));
    const before = await monitor();
    console.log(
      `  compactions ${sync.compactions}, longest event-loop block ${before.longestMs.toFixed(1)} ms`,
    );
    console.log(`  turn gaps: ${before.summary}`);

    // After: the server's way, `slice` vectors per turn, searches answered every turn meanwhile.
    const bg = await HnswIndex.load(dir, snapshot, { backgroundRebuild: true, rebuildSlice: slice });
    bg.remove(ids.slice(0, half));
    monitor = blockMonitor();
    let searches = 0;
    let longestSearch = 0;
    await timed(`background (slice ${slice}): rebuild of ${n - half} live vectors`, async () => {
      bg.add([n + 1], extra);
      while (bg.rebuilding) {
        const start = performance.now();
        if (bg.searchArray(query, 10)[0]?.id === n) searches++;
        longestSearch = Math.max(longestSearch, performance.now() - start);
        await nextTurn();
      }
    });
    const after = await monitor();
    console.log(
      `  compactions ${bg.compactions}, longest event-loop block ${after.longestMs.toFixed(1)} ms over ` +
        `${after.turns} turns; ${searches} searches answered (own vector first) during the rebuild, ` +
        `longest ${longestSearch.toFixed(1)} ms`,
    );
    console.log(`  turn gaps: ${after.summary}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
