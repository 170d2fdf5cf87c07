import { Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import {
  dryRunIngest,
  openEmbedder,
  openIngestContext,
  requireServer,
  runIngest,
  type IngestProgress,
  type IngestSummary,
} from '../src/ingest/index.ts';
import { closeAll, runThenClose } from '../src/close-all.ts';
import { createLogger } from '../src/logger.ts';
import { KARPATHY_SPLITS, openSource, type KarpathySplit } from '../src/media/sources/index.ts';
import { enqueue, printFailed, printQueueStatus } from './lib/queue-cli.ts';
import {
  INGEST_EXIT,
  addStoreOptions,
  ingestCommand,
  ingestOverrides,
  nonNegativeInt as int,
  nonNegativeNumber,
  checkOutputPath,
  writeJsonOutput,
  runCli,
  stopOnSignals,
  type IngestFlags,
} from './lib/cli.ts';

const program = ingestCommand(
  'index',
  'Index a source of images and captions: a directory (sidecar .txt captions), a JSONL manifest, ' +
    'COCO captions_*.json or Flickr30k results.csv / *.token. Re-running the same source resumes where it stopped.',
  { batch: 'images per encoder call and per database transaction (INGEST_BATCH, default 32)' },
)
  .argument(
    '[source]',
    'directory, manifest.jsonl, captions_<split>.json, results.csv or results_20130124.token (not with --status)',
  )
  .option('--limit <n>', 'process at most this many items not finished by earlier runs', int('--limit'))
  .option('--dry-run', 'read, hash and decode everything and report; write nothing')
  .option('--json <path>', 'also write the summary as JSON (indexed, duplicates, failed, elapsedMs, ...)')
  .addOption(
    new Option('--format <format>', 'source format (default: guessed from the path)').choices([
      'dir',
      'jsonl',
      'coco',
      'flickr30k',
      'karpathy',
    ]),
  )
  .option('--images <dir>', 'image directory (root) for COCO / Flickr30k / Karpathy files (default: guessed)')
  .addOption(
    new Option('--split <split>', 'Karpathy dataset_*.json only: which split to index (default all)').choices(
      [...KARPATHY_SPLITS],
    ),
  )
  .option('--retry-failed', 'retry items that earlier runs recorded as failed')
  .option(
    '--list-failed',
    'print the items of this source that runs recorded as failed, with the reason, then exit (writes nothing)',
  )
  .option(
    '--checkpoint-every <seconds>',
    'save the HNSW files at most this often (default 60)',
    nonNegativeNumber('--checkpoint-every'),
  )
  .option(
    '--enqueue',
    'record the items in the work queue of a PostgreSQL server (DATABASE_URL) for `npm run worker` instead of indexing here',
  )
  .option(
    '--status',
    'print the work queue (pending / claimed / done / failed) and the live workers, then exit',
  );
addStoreOptions(program);

interface Flags extends IngestFlags {
  limit?: number;
  dryRun?: boolean;
  json?: string;
  format?: 'dir' | 'jsonl' | 'coco' | 'flickr30k' | 'karpathy';
  split?: KarpathySplit;
  images?: string;
  retryFailed?: boolean;
  listFailed?: boolean;
  checkpointEvery?: number;
  enqueue?: boolean;
  status?: boolean;
}

runCli(
  async () => {
    program.parse();
    const flags = program.opts<Flags>();
    await checkOutputPath(flags.json);
    const config = loadConfig({ overrides: ingestOverrides(flags) });
    const logger = createLogger(config.logLevel, 'index');
    if (flags.status) return printQueueStatus(config, logger, flags.json);
    // A setting that cannot work is said before the source is read (which can take a while).
    if (flags.enqueue && config.databaseUrl === undefined)
      requireServer({ kind: 'pglite' }, 'npm run index -- --enqueue');
    const location = program.args[0];
    if (location === undefined) return program.error("error: missing required argument 'source'");
    const source = await openSource(location, {
      maxBytes: config.limits.maxImageBytes,
      ...(flags.format ? { format: flags.format } : {}),
      ...(flags.images ? { imagesDir: flags.images } : {}),
      ...(flags.split ? { split: flags.split } : {}),
      onWarning: (message) => logger.warn(message),
    });
    // A source that yields nothing (a manifest read with the wrong --format, an empty folder) is
    // a mistake to report, not a run that indexed zero items and exited 0.
    const total = await source.count();
    if (total === 0)
      throw new AppError(
        'SOURCE_INVALID',
        `${source.id} holds no items read as ${source.format}` +
          (flags.format
            ? `: is --format ${flags.format} right for this file? (leave --format out to guess from the name)`
            : ': nothing to index'),
      );
    if (flags.listFailed) return printFailed(config, logger, source.id, flags.json);
    const stop = stopOnSignals();
    if (flags.enqueue) return enqueue(config, logger, source, { ...flags, signal: stop.signal });
    const progress = createProgress(Promise.resolve(total));
    const common = {
      concurrency: config.ingest.concurrency,
      ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      onProgress: progress.update,
      signal: stop.signal,
    };

    let summary: IngestSummary;
    if (flags.dryRun) {
      const closers: (() => Promise<void>)[] = [];
      const { embedder } = await openEmbedder(config, logger, closers);
      const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
      summary = await runThenClose(
        () => dryRunIngest(source, { preprocess: embedder.preprocess, limits }, common),
        () => closeAll(closers),
        (err) => logger.error({ err }, 'closing after a failed dry run also failed'),
      );
    } else {
      const context = await openIngestContext(config, logger);
      // A failed final checkpoint fails the command, but never hides the run's own error.
      summary = await runThenClose(
        () =>
          runIngest(source, context, {
            ...common,
            batchSize: config.ingest.batchSize,
            retryFailed: flags.retryFailed ?? false,
            ...(flags.checkpointEvery !== undefined
              ? { checkpointEveryMs: flags.checkpointEvery * 1000 }
              : {}),
          }),
        context.close,
        (err) => logger.error({ err }, 'closing after a failed run also failed'),
      );
    }
    progress.stop();
    printSummary(summary, flags.dryRun ?? false);
    if (stop.signal.aborted)
      console.log('  stopped early by a signal: run the same command again to continue');
    if (flags.json) await writeJsonOutput(flags.json, summary);
    return stop.exitCode() ?? (summary.failed > 0 ? INGEST_EXIT.itemsFailed : INGEST_EXIT.ok);
  },
  { errorExit: INGEST_EXIT.couldNotRun },
);

/** A bar on a terminal; elsewhere (CI, logs, pipes) a plain line every few seconds. */
function createProgress(total: Promise<number | undefined>): {
  update: (p: IngestProgress) => void;
  stop: () => void;
} {
  let known: number | undefined;
  void total.then((n) => (known = n));
  const remaining = (p: IngestProgress) => (known === undefined ? undefined : Math.max(0, known - p.skipped));
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format:
          'indexing [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted} | {failed} failed, {duplicates} dup',
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        const total = remaining(p) ?? p.done;
        const payload = { rate: p.rate.toFixed(1), failed: p.failed, duplicates: p.duplicates };
        if (!started) {
          bar.start(total, p.done, payload);
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(p.done, payload);
        }
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  return {
    update(p) {
      if (p.elapsedMs - last < 2000) return;
      last = p.elapsedMs;
      const total = remaining(p);
      const eta = total !== undefined && p.rate > 0 ? `, ETA ${Math.round((total - p.done) / p.rate)} s` : '';
      process.stderr.write(
        `indexed ${p.indexed}, duplicates ${p.duplicates}, failed ${p.failed}` +
          `${total !== undefined ? ` of ${total}` : ''} (${p.rate.toFixed(1)}/s${eta}; ${p.skipped} done earlier)\n`,
      );
    },
    stop() {},
  };
}

function printSummary(s: IngestSummary, dryRun: boolean): void {
  const lines = [
    dryRun
      ? `dry run of ${s.source} (nothing written)`
      : `source ${s.source} (run ${s.runId}, models ${s.fingerprint})`,
    `  ${dryRun ? 'would index' : 'indexed'}:   ${s.indexed} images, ${s.captions} captions${s.truncatedCaptions ? ` (${s.truncatedCaptions} truncated)` : ''}`,
    `  duplicates: ${s.duplicates}`,
    `  failed:     ${s.failed}`,
    ...s.topFailures.map((f) => `    ${f.count} x ${f.code} (e.g. ${f.example})`),
    ...(s.failed > 0 && !dryRun ? ['    (every one: the same command with --list-failed)'] : []),
    `  skipped:    ${s.skipped} (finished by earlier runs)`,
    `  elapsed:    ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.imagesPerSecond.toFixed(1)} images/s`,
  ];
  console.log(lines.join('\n'));
}
