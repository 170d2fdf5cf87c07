import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.ts';
import { openWorkerContext, runWorker, type WorkerTally } from '../src/ingest/index.ts';
import { runThenClose } from '../src/close-all.ts';
import { createLogger } from '../src/logger.ts';
import {
  INGEST_EXIT,
  ingestCommand,
  ingestOverrides,
  nonNegativeInt as int,
  nonNegativeNumber,
  runCli,
  stopOnSignals,
  type IngestFlags,
} from './lib/cli.ts';

const program = ingestCommand(
  'worker',
  'Index the work queue that `npm run index -- <source> --enqueue` filled, beside any number of ' +
    'other workers sharing DATABASE_URL (a PostgreSQL server). Writes rows only: API processes ' +
    'follow the vector tables, and `npm run reindex` rebuilds index files from them.',
  { batch: 'items per claim, encoder call and transaction (INGEST_BATCH, default 32)' },
)
  .option(
    '--lease <seconds>',
    'how long a claim stays this worker’s without a heartbeat; then another worker takes it over (default 60)',
    nonNegativeNumber('--lease'),
  )
  .option(
    '--max-attempts <n>',
    'claims of one item before it is failed for good (default 3)',
    int('--max-attempts'),
  )
  .option('--exit-when-idle', 'stop once nothing is pending or claimed by any worker')
  .option('--data-dir <dir>', 'data directory holding the models (DATA_DIR, default ./data)')
  .option('--database-url <url>', 'PostgreSQL server URL shared by every worker (DATABASE_URL; required)');

interface Flags extends IngestFlags {
  lease?: number;
  maxAttempts?: number;
  exitWhenIdle?: boolean;
}

runCli(
  async () => {
    program.parse();
    const flags = program.opts<Flags>();
    const config = loadConfig({ overrides: ingestOverrides(flags) });
    const logger = createLogger(config.logLevel, 'worker');
    const stop = stopOnSignals();
    const context = await openWorkerContext(config, logger);
    const id = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    const tally = await runThenClose(
      () =>
        runWorker(context, {
          id,
          host: os.hostname(),
          batchSize: config.ingest.batchSize,
          concurrency: config.ingest.concurrency,
          ...(flags.lease !== undefined ? { leaseMs: Math.max(1, Math.round(flags.lease * 1000)) } : {}),
          ...(flags.maxAttempts !== undefined ? { maxAttempts: Math.max(1, flags.maxAttempts) } : {}),
          exitWhenIdle: flags.exitWhenIdle ?? false,
          // Stops waiting at once on a signal instead of sleeping out the poll interval.
          waitForWork: (ms) => sleep(ms, undefined, { signal: stop.signal }).catch(() => undefined),
          signal: stop.signal,
          onBatch: (t) => logger.debug({ ...t }, 'worker batch stored'),
        }),
      context.close,
      (err) => logger.error({ err }, 'closing after a failed run also failed'),
    );
    printSummary(id, tally);
    return stop.exitCode() ?? (tally.failed > 0 ? INGEST_EXIT.itemsFailed : INGEST_EXIT.ok);
  },
  { errorExit: INGEST_EXIT.couldNotRun },
);

function printSummary(id: string, t: WorkerTally): void {
  console.log(
    [
      `worker ${id}`,
      `  indexed:    ${t.indexed}`,
      `  duplicates: ${t.duplicates}`,
      `  failed:     ${t.failed}`,
      `  taken over: ${t.lost} (lease ran out; finished by another worker)`,
      `  batches:    ${t.batches}`,
    ].join('\n'),
  );
}
