import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Command } from 'commander';
import { loadConfig } from '../src/config.ts';
import { runIngest } from '../src/ingest/pipeline.ts';
import { createLogger } from '../src/logger.ts';
import { startApp, type App } from '../src/main.ts';
import { openSource } from '../src/media/sources/index.ts';
import { generateSampleData, MANIFEST_NAME, type ManifestLine } from '../src/train/synthetic/generate.ts';
import { checkOutputPath, runCli, wholeNumber } from './lib/cli.ts';

/**
 * The same text -> image and image -> text queries through HTTP GraphQL (autocannon, in a worker
 * thread) and through the in-process engine, side by side on one indexed collection, at several
 * concurrencies. metric = geometric mean over (query, concurrency) of HTTP QPS / in-process QPS.
 */
const program = new Command('bench:api')
  .description('GraphQL-over-HTTP QPS against in-process engine QPS for text->image and image->text')
  .option('--images <n>', 'synthetic images to index', wholeNumber, 400)
  .option('--concurrency <list>', 'concurrent clients', '1,4,16')
  .option('--duration <s>', 'seconds per measurement', (v) => Number(v), 5)
  .option('--first <n>', 'results per query', wholeNumber, 10)
  .option('--data-dir <dir>', 'reuse this data directory (default: a temp one, removed after)')
  .option('--json <path>', 'also write the result as JSON');

interface Options {
  images: number;
  concurrency: string;
  duration: number;
  first: number;
  dataDir?: string;
  json?: string;
}

interface Row {
  query: string;
  concurrency: number;
  httpQps: number;
  inProcessQps: number;
  ratio: number;
  httpP50Ms: number;
  httpP99Ms: number;
  inProcessP50Ms: number;
  inProcessP99Ms: number;
}

const TARGET = 0.7;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** One kind of query, as a GraphQL body and as the equivalent engine call. */
interface Workload {
  name: string;
  bodies: string[];
  call: (i: number) => Promise<unknown>;
}

function workloads(app: App, texts: string[], imageIds: number[], first: number): Workload[] {
  const fields =
    'edges { score cursor node { id uri width height captions { text } thumbnailUrl } } pageInfo { hasNextPage endCursor }';
  return [
    {
      name: 'text->image',
      bodies: texts.map((text) =>
        JSON.stringify({
          query: `query ($t: String!) { searchImages(text: $t, first: ${first}) { ${fields} } }`,
          variables: { t: text },
        }),
      ),
      call: (i) => app.engine.searchImages(texts[i % texts.length]!, { first }),
    },
    {
      name: 'image->text',
      bodies: imageIds.map((id) =>
        JSON.stringify({
          query: `query ($id: ID!) { searchCaptions(image: { id: $id }, first: ${first}) { edges { score cursor node { id text image { id uri } } } } }`,
          variables: { id: String(id) },
        }),
      ),
      call: (i) => app.engine.searchCaptions({ id: imageIds[i % imageIds.length]! }, { first }),
    },
  ];
}

async function inProcess(work: Workload, concurrency: number, seconds: number) {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await work.call(next++);
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { qps: latencies.length / seconds, p50: q(0.5), p99: q(0.99) };
}

async function overHttp(url: string, work: Workload, concurrency: number, seconds: number) {
  const result = await autocannon({
    url: `${url}/graphql`,
    connections: concurrency,
    duration: seconds,
    workers: 1,
    requests: work.bodies.map((body) => ({
      method: 'POST' as const,
      path: '/graphql',
      headers: { 'content-type': 'application/json' },
      body,
    })),
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${work.name}: ${result.non2xx} non-2xx responses and ${result.errors} errors over HTTP`);
  }
  return { qps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

runCli(async () => {
  const o = program.parse().opts<Options>();
  await checkOutputPath(o.json);
  const concurrencies = o.concurrency.split(',').map((c) => Number.parseInt(c, 10));
  const dataDir = o.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'cms-bench-api-')));
  const config = loadConfig({
    overrides: { DATA_DIR: dataDir, PORT: 0, LOG_LEVEL: 'warn', MAX_FIRST: Math.max(100, o.first) },
  });
  const logger = createLogger('warn');
  const manifestPath = path.join(config.paths.samples, MANIFEST_NAME);
  await readFile(manifestPath).catch(() =>
    generateSampleData({ outDir: config.paths.samples, n: o.images, seed: config.seed }),
  );
  const app = await startApp(config, logger, { readOnly: true });
  try {
    const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
    await runIngest(await openSource(manifestPath), {
      db: app.db,
      embedder: app.embedder,
      indexes: app.indexes,
      limits,
      logger,
    });
    const lines = (await readFile(manifestPath, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ManifestLine);
    const texts = lines.slice(0, 50).map((l) => l.captions[0]!);
    const imageIds = await app.repositories.images.filterIds({}, 50);
    const info = await app.engine.indexInfo();
    log(
      `${info.images} images, ${info.captions} captions, ${info.dims}-d, ${o.duration} s per cell, first=${o.first}, ${os.cpus().length} CPUs`,
    );

    const rows: Row[] = [];
    for (const work of workloads(app, texts, imageIds, o.first)) {
      await inProcess(work, 2, 1); // warm-up: sessions, JIT, caches
      await overHttp(app.server.url, work, 2, 1);
      for (const c of concurrencies) {
        const local = await inProcess(work, c, o.duration);
        const http = await overHttp(app.server.url, work, c, o.duration);
        const row: Row = {
          query: work.name,
          concurrency: c,
          httpQps: Math.round(http.qps),
          inProcessQps: Math.round(local.qps),
          ratio: Number((http.qps / local.qps).toFixed(3)),
          httpP50Ms: http.p50,
          httpP99Ms: http.p99,
          inProcessP50Ms: Number(local.p50.toFixed(2)),
          inProcessP99Ms: Number(local.p99.toFixed(2)),
        };
        rows.push(row);
        log(
          `  ${row.query} c=${c}: http ${row.httpQps}/s, in-process ${row.inProcessQps}/s, ratio ${row.ratio}`,
        );
      }
    }
    const value = Number(Math.exp(rows.reduce((s, r) => s + Math.log(r.ratio), 0) / rows.length).toFixed(3));
    console.table(rows);
    console.log(`http_over_inprocess_qps = ${value} (target ${TARGET}; geometric mean of the ratios above)`);
    if (o.json) {
      await writeFile(
        o.json,
        `${JSON.stringify({ metric: 'http_over_inprocess_qps', value, target: TARGET, rows }, null, 2)}\n`,
      );
    }
  } finally {
    await app.close();
    if (!o.dataDir) await rm(dataDir, { recursive: true, force: true });
  }
});
