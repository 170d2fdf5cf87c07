import { loadConfig } from '../src/config.ts';
import { openReindexContext, reindex } from '../src/ingest/index.ts';
import { createLogger } from '../src/logger.ts';
import {
  INGEST_EXIT,
  addStoreOptions,
  ingestCommand,
  ingestOverrides,
  checkOutputPath,
  writeJsonOutput,
  runCli,
  stopOnSignals,
  type IngestFlags,
} from './lib/cli.ts';

const program = ingestCommand(
  'reindex',
  'Rebuild both vector indexes for the current models from Postgres (HNSW files, or with --vector-backend ' +
    'pgvector the pgvector tables, moving the stored vectors without re-embedding). If the models changed (new encoders or ' +
    'projection), first re-embed every live image from its uri and every caption, then rebuild. Resumable. ' +
    'Needs the data directory, and on a shared PostgreSQL server the database, to itself.',
  {
    batch: 'images per page and encoder call (INGEST_BATCH, default 32)',
    device: 'where the encoders run (DEVICE)',
  },
).option('--json <path>', 'also write the summary as JSON');
addStoreOptions(program);

runCli(
  async () => {
    const flags = program.parse().opts<IngestFlags & { json?: string }>();
    await checkOutputPath(flags.json);
    const config = loadConfig({ overrides: ingestOverrides(flags) });
    const logger = createLogger(config.logLevel, 'reindex');
    const stop = stopOnSignals();
    const context = await openReindexContext(config, logger);
    try {
      let last = 0;
      const summary = await reindex(context, {
        batchSize: config.ingest.batchSize,
        concurrency: config.ingest.concurrency,
        signal: stop.signal,
        onProgress: (p) => {
          logger.debug(p, 'reindex page stored');
          if (Date.now() - last < 2000) return;
          last = Date.now();
          process.stderr.write(
            `re-embedded ${p.images} images, ${p.captions} captions, ${p.failed} failed\n`,
          );
        },
      });
      console.log(
        [
          `reindex (${summary.mode}) for models ${summary.fingerprint}`,
          `  re-embedded: ${summary.reembeddedImages} images, ${summary.reembeddedCaptions} captions`,
          `  failed:      ${summary.failed}`,
          ...summary.topFailures.map((f) => `    ${f.count} x ${f.code} (e.g. ${f.example})`),
          summary.stopped
            ? '  indexes:     not rebuilt: stopped early by a signal; run `npm run reindex` again to finish'
            : `  indexes:     ${summary.indexedImages} images, ${summary.indexedCaptions} captions (${summary.vectorBackend})`,
          ...(summary.vectorBackend === 'pgvector'
            ? [`  moved:       ${summary.movedVectors} stored vectors into pgvector (not re-embedded)`]
            : []),
          `  elapsed:     ${(summary.elapsedMs / 1000).toFixed(1)} s`,
        ].join('\n'),
      );
      if (flags.json) await writeJsonOutput(flags.json, summary);
      return stop.exitCode() ?? (summary.failed > 0 ? INGEST_EXIT.itemsFailed : INGEST_EXIT.ok);
    } finally {
      await context.close();
    }
  },
  { errorExit: INGEST_EXIT.couldNotRun },
);
