import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Command } from 'commander';
import { runCli, wholeNumber } from './lib/cli.ts';
import { readMainProfile, stagesOf, type StageShare } from './lib/cpu-profile.ts';

/**
 * Text -> image queries over HTTP against several servers side by side: each variant is a source
 * tree (this one, or an older commit checked out with `git worktree add`) plus environment
 * settings, serving the same indexed collection from its own copy of the data directory.
 * Measurements interleave the variants round by round, so a noisy machine slows all of them
 * alike; the table reports medians over the rounds. metric = QPS of the last variant over the
 * first at the highest concurrency.
 *
 *   npm run bench:api-compare -- --variant baseline=/tmp/old-tree --variant current=.
 *   npm run bench:api-compare -- --models tiny-base --variant unbatched=.:QUERY_BATCH_WINDOW_MS=0 \
 *     --variant batched=.:QUERY_BATCH_WINDOW_MS=2 --metric batched_over_unbatched_qps
 */
const program = new Command('bench:api-compare')
  .description('the same text -> image load against several server variants, interleaved')
  .option(
    '--variant <name=dir[:KEY=VALUE...]>',
    'a server variant (repeat; the first is the reference)',
    collect,
    [],
  )
  .option('--images <n>', 'synthetic images to index', wholeNumber, 400)
  .option('--models <profile>', 'MODELS for every variant', 'tiny')
  .option('--concurrency <list>', 'concurrent clients', '1,16,64')
  .option('--duration <s>', 'seconds per measurement', (v) => Number(v), 5)
  .option('--rounds <n>', 'rounds over all variants', wholeNumber, 3)
  .option('--metric <name>', 'name of the ratio in --json', 'qps_over_reference')
  .option('--profile', 'run the servers under node --cpu-prof and print where their main thread went')
  .option('--json <path>', 'also write the result as JSON');

interface Options {
  variant: string[];
  images: number;
  models: string;
  concurrency: string;
  duration: number;
  rounds: number;
  metric: string;
  profile?: boolean;
  json?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface Variant {
  name: string;
  dir: string;
  env: Record<string, string>;
}

function parseVariant(spec: string): Variant {
  const match = /^([\w.-]+)=([^:]+)((?::[A-Z_]+=[^:]*)*)$/.exec(spec);
  if (!match) throw new Error(`--variant ${spec}: expected name=dir[:KEY=VALUE...]`);
  const env = Object.fromEntries(
    match[3]!
      .split(':')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
  return { name: match[1]!, dir: path.resolve(match[2]!), env };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Runs one of a tree's own CLIs to completion (sample data, indexing). */
function runIn(dir: string, script: string, args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: dir,
    env,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`${script} in ${dir} exited with ${r.status}`);
}

interface Server {
  child: ChildProcess;
  url: string;
}

function startServer(v: Variant, env: NodeJS.ProcessEnv, profileDir: string | undefined): Promise<Server> {
  const flags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', 'scripts/start.ts', '--read-only'], {
    cwd: v.dir,
    env: { ...env, ...v.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /POST (http:\/\/\S+)\/graphql/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`${v.name}: server exited with ${code} before listening`)));
  });
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGINT'); // lets --cpu-prof write its profile
  await exited;
}

async function load(url: string, bodies: string[], connections: number, seconds: number) {
  const r = await autocannon({
    url: `${url}/graphql`,
    connections,
    duration: seconds,
    // Base-size models on a busy machine answer in seconds; autocannon's 10 s default would count
    // slow answers as errors.
    timeout: 120,
    workers: 1,
    requests: bodies.map((body) => ({
      method: 'POST' as const,
      path: '/graphql',
      headers: { 'content-type': 'application/json' },
      body,
    })),
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.non2xx} non-2xx responses and ${r.errors} errors`);
  return { qps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

runCli(async () => {
  const o = program.parse().opts<Options>();
  const variants = o.variant.map(parseVariant);
  if (variants.length < 2) throw new Error('give at least two --variant');
  const concurrencies = o.concurrency.split(',').map((c) => wholeNumber(c));
  const work = await mkdtemp(path.join(os.tmpdir(), 'cms-bench-compare-'));
  const servers: Server[] = [];
  try {
    // The children are configured like any run: the caller's environment plus each variant's settings.
    // eslint-disable-next-line no-restricted-properties
    const env = { LOG_LEVEL: 'warn', DEVICE: 'cpu', ...process.env, MODELS: o.models };
    // One collection, indexed once per source tree (fingerprints may differ between commits),
    // copied for variants of the same tree: PGlite lets one process open a data directory.
    const samples = path.join(work, 'samples');
    runIn(variants[0]!.dir, 'scripts/sample-data.ts', ['--n', String(o.images), '--out', samples], {
      ...env,
      DATA_DIR: path.join(work, 'gen'),
    });
    const manifest = path.join(samples, 'manifest.jsonl');
    const indexed = new Map<string, string>();
    for (const v of variants) {
      const dataDir = path.join(work, v.name);
      const done = indexed.get(v.dir);
      if (done) await cp(done, dataDir, { recursive: true });
      else {
        log(`indexing ${o.images} images with ${v.name} (${v.dir})`);
        runIn(v.dir, 'scripts/index.ts', [manifest], { ...env, DATA_DIR: dataDir });
        indexed.set(v.dir, dataDir);
      }
    }
    const texts = (await readFile(manifest, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .slice(0, 50)
      .map((l) => (JSON.parse(l) as { captions: string[] }).captions[0]!);
    const fields =
      'edges { score cursor node { id uri width height captions { text } thumbnailUrl } } pageInfo { hasNextPage endCursor }';
    const bodies = texts.map((t) =>
      JSON.stringify({
        query: `query ($t: String!) { searchImages(text: $t, first: 10) { ${fields} } }`,
        variables: { t },
      }),
    );

    for (const v of variants) {
      const profileDir = o.profile ? path.join(work, `profile-${v.name}`) : undefined;
      servers.push(await startServer(v, { ...env, DATA_DIR: path.join(work, v.name) }, profileDir));
    }
    for (const s of servers) await load(s.url, bodies, 4, 2); // warm-up

    const samplesOf = new Map<string, { qps: number[]; p50: number[]; p99: number[] }>();
    for (let round = 0; round < o.rounds; round++) {
      for (const c of concurrencies) {
        // Alternate the order each round: neither variant always runs right after the other.
        const order =
          round % 2 === 0 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i);
        for (const i of order) {
          const r = await load(servers[i]!.url, bodies, c, o.duration);
          const key = `${variants[i]!.name}|${c}`;
          const s = samplesOf.get(key) ?? { qps: [], p50: [], p99: [] };
          s.qps.push(r.qps);
          s.p50.push(r.p50);
          s.p99.push(r.p99);
          samplesOf.set(key, s);
          log(
            `  round ${round + 1} ${variants[i]!.name} c=${c}: ${Math.round(r.qps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`,
          );
        }
      }
    }
    const rows = variants.flatMap((v) =>
      concurrencies.map((c) => {
        const s = samplesOf.get(`${v.name}|${c}`)!;
        return {
          variant: v.name,
          concurrency: c,
          reqPerS: Math.round(median(s.qps)),
          p50Ms: median(s.p50),
          p99Ms: median(s.p99),
        };
      }),
    );
    console.table(rows);
    const top = Math.max(...concurrencies);
    const at = (name: string, c: number) => rows.find((r) => r.variant === name && r.concurrency === c)!;
    const [first, last] = [variants[0]!.name, variants.at(-1)!.name];
    const value = Number((at(last, top).reqPerS / at(first, top).reqPerS).toFixed(3));
    console.log(
      `${o.metric} = ${value} (${last} over ${first}, req/s at concurrency ${top}, medians of ${o.rounds} rounds)`,
    );
    const low = Math.min(...concurrencies);
    const p50Delta = at(last, low).p50Ms - at(first, low).p50Ms;
    console.log(
      `p50 at concurrency ${low}: ${at(first, low).p50Ms} -> ${at(last, low).p50Ms} ms (${p50Delta >= 0 ? '+' : ''}${p50Delta} ms)`,
    );

    let profiles: Record<string, StageShare[]> | undefined;
    if (o.profile) {
      await Promise.all(servers.splice(0).map(stopServer));
      profiles = {};
      for (const v of variants) {
        profiles[v.name] = stagesOf(await readMainProfile(path.join(work, `profile-${v.name}`)));
        log(`\nmain thread of ${v.name}, share of busy time:`);
        for (const s of profiles[v.name]!.slice(0, 10))
          log(`  ${(100 * s.share).toFixed(1).padStart(5)}%  ${String(s.ms).padStart(6)} ms  ${s.stage}`);
      }
    }
    if (o.json) {
      const result = {
        metric: o.metric,
        value,
        models: o.models,
        variants,
        rows,
        p50DeltaAtLowestMs: p50Delta,
        profiles,
      };
      await writeFile(o.json, `${JSON.stringify(result, null, 2)}\n`);
    }
  } finally {
    await Promise.all(servers.map(stopServer));
    await rm(work, { recursive: true, force: true });
  }
});
