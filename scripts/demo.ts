import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig, type Config } from '../src/config.ts';
import { isAppError } from '../src/errors.ts';
import {
  openIngestContext,
  openReindexContext,
  reindex,
  runIngest,
  type IngestContext,
} from '../src/ingest/index.ts';
import { createLogger, type Logger } from '../src/logger.ts';
import { closeOnSignal, describeUrls, startApp } from '../src/main.ts';
import { openSource } from '../src/media/sources/index.ts';
import { loadEncoders } from '../src/models/load.ts';
import { loadProjection, projectionDir } from '../src/models/projection.ts';
import { startOf } from '../src/models/projection-init.ts';
import { lockDataDir } from '../src/store/data-dir-lock.ts';
import { generateSampleData, MANIFEST_NAME } from '../src/train/synthetic/generate.ts';
import { trainProjection } from '../src/train/train-projection.ts';
import { ensureTrainingData } from '../src/train/index.ts';
import { runCli, vectorBackendOption } from './lib/cli.ts';
import { trainingProgress } from './lib/train-progress.ts';

/**
 * `npm run demo`: from a fresh clone, offline, with no database server: tiny models, synthetic
 * sample data, a trained projection, an index, and a server. Every step is skipped when its
 * output exists, so a second run only starts the server.
 */
const program = new Command('demo')
  .description('Generate models and sample data if missing, train the projection, index, and serve')
  .option('--images <n>', 'sample images to generate on the first run', '2400')
  .option('--port <port>', 'port (PORT, default 4000)')
  .option('--data-dir <dir>', 'data directory (DATA_DIR, default ./data)')
  .addOption(vectorBackendOption())
  .option('--no-serve', 'prepare everything, then exit instead of serving');

const say = (line: string) => process.stdout.write(`${line}\n`);

async function step<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await run();
  say(`  ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return result;
}

async function ensureSamples(config: Config, n: number): Promise<string> {
  const manifest = path.join(config.paths.samples, MANIFEST_NAME);
  if (existsSync(manifest)) {
    say(`[2/4] sample data: present (${manifest})`);
    return manifest;
  }
  say(`[2/4] sample data: generating ${n} synthetic images with captions`);
  await step('sample data written', () =>
    generateSampleData({ outDir: config.paths.samples, n, seed: config.seed }),
  );
  return manifest;
}

async function ensureProjection(config: Config, logger: Logger): Promise<void> {
  const encoders = await loadEncoders(config, logger);
  try {
    // loadProjection falls back to the untrained one when the weights were fitted to other encoders.
    const current = await loadProjection(config, encoders, logger);
    const trained = current.trained;
    await current.close();
    if (trained) {
      say(`[3/4] projection: trained weights present (${projectionDir(config)})`);
      return;
    }
    // A pre-aligned profile (CLIP) searches zero-shot; a fine-tune needs pairs from the user's own
    // domain, and one trained on synthetic shapes would only be rejected by the zero-shot gate.
    if (startOf(config.profile) === 'identity') {
      say('[3/4] projection: zero-shot (the profile is pre-aligned; `npm run train` fine-tunes it)');
      return;
    }
    // A separate, larger synthetic set (another seed): the demo's own images stay held out.
    say('[3/4] projection: training on synthetic pairs (contrastive, symmetric InfoNCE)');
    const data = await step('training pairs ready', () => ensureTrainingData(config));
    let epochs = 0;
    const progress = trainingProgress((line) => say(`  ${line}`));
    let encodedTenth = 0;
    const { card } = await step('projection trained', () =>
      trainProjection(
        config,
        {
          dataPath: data.manifestPath,
          encoders,
          // Encoding the training images comes first and takes a while: say so every tenth.
          onEncodeProgress: (done, total) => {
            const tenth = Math.floor((10 * done) / total);
            if (tenth > encodedTenth) say(`  encoding training images: ${done}/${total}`);
            encodedTenth = Math.max(encodedTenth, tenth);
          },
          onStep: progress.onStep,
          onEpoch: (e) => {
            epochs++;
            progress.onEpoch(e);
          },
        },
        logger,
      ),
    );
    const scores = JSON.stringify(card.validation ?? {}, (_k, v: unknown) =>
      typeof v === 'number' ? Number(v.toFixed(3)) : v,
    );
    say(`  ${epochs} epochs, ${card.training.pairsPerSecond} pairs/s; validation ${scores}`);
  } finally {
    await encoders.close();
  }
}

/** The ingest context; when the models changed since the last index, re-embed what is stored first. */
async function openIndexing(config: Config, logger: Logger): Promise<IngestContext> {
  try {
    return await openIngestContext(config, logger);
  } catch (error) {
    if (!isAppError(error, 'MODEL_MISMATCH') && !isAppError(error, 'REINDEX_INCOMPLETE')) throw error;
    say('  the models changed since the last index: re-embedding what is stored');
    const context = await openReindexContext(config, logger);
    try {
      await step('re-embedded', () => reindex(context));
    } finally {
      await context.close();
    }
    return openIngestContext(config, logger);
  }
}

async function ensureIndexed(config: Config, manifest: string, logger: Logger): Promise<void> {
  say('[4/4] index: adding what is not indexed yet (resumable)');
  const context = await openIndexing(config, logger);
  try {
    const source = await openSource(manifest);
    let lastLine = Date.now();
    const summary = await step('index up to date', () =>
      runIngest(source, context, {
        batchSize: config.ingest.batchSize,
        concurrency: config.ingest.concurrency,
        onProgress: (p) => {
          if (Date.now() - lastLine < 5000) return;
          lastLine = Date.now();
          say(`  ... ${p.indexed} indexed (${p.rate.toFixed(0)}/s)`);
        },
      }),
    );
    say(
      `  indexed ${summary.indexed}, duplicates ${summary.duplicates}, failed ${summary.failed}, ` +
        `already done ${summary.skipped}`,
    );
  } finally {
    await context.close();
  }
}

const DEMO_CORS_ORIGINS = ['localhost', '127.0.0.1']
  .flatMap((host) => [3000, 4200, 5173, 8000, 8080].map((port) => `http://${host}:${port}`))
  .join(',');

runCli(async () => {
  const o = program.parse().opts<{
    images: string;
    port?: string;
    dataDir?: string;
    vectorBackend?: string;
    serve: boolean;
  }>();
  const config = loadConfig({
    // The demo is a local sandbox: mutations are open unless an API key is configured, errors
    // show their internals (development mode) to help whoever is trying it out, and front ends on
    // the usual local dev-server ports may call it (exact origins, never `*`).
    overrides: {
      PORT: o.port,
      DATA_DIR: o.dataDir,
      VECTOR_BACKEND: o.vectorBackend,
      ALLOW_UNAUTHENTICATED_MUTATIONS: 'true',
      CORS_ORIGINS: DEMO_CORS_ORIGINS,
      NODE_ENV: 'development',
    },
  });
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  say(
    `demo: data in ${config.dataDir}, ${config.profile} models, ` +
      `${config.databaseUrl ? 'PostgreSQL' : 'embedded PGlite'}, ${config.vectorBackend} vector search`,
  );
  // Held for the whole demo: every step writes DATA_DIR; the index and the server share this lock.
  const lock = await lockDataDir(config.dataDir, { command: 'demo', logger });
  try {
    say(`[1/4] models: ${config.profile} (generated on first use under ${config.paths.models})`);
    const manifest = await ensureSamples(config, Number(o.images));
    await ensureProjection(config, logger);
    await ensureIndexed(config, manifest, logger);
    if (!o.serve) return;
    await serve(config, logger);
  } finally {
    await lock.release();
  }
});

async function serve(config: Config, logger: Logger): Promise<void> {
  const app = await startApp(config, logger, { command: 'demo' });
  say(`\nready: ${await app.engine.indexInfo().then((i) => `${i.images} images, ${i.captions} captions`)}`);
  say(describeUrls(app));
  say('try "a red circle" on the search page; Ctrl-C stops the server and saves the index');
  await closeOnSignal(app, logger);
}
