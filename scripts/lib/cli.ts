import type { ConfigOverrides } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';

/**
 * Runs a CLI's main function. Expected failures (AppError) print one line with their stable code
 * and exit non-zero without a stack; anything else is a bug and prints its stack.
 */
export function runCli(main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (error: unknown) => {
      if (error instanceof AppError) {
        process.stderr.write(`error [${error.code}]: ${error.message}\n`);
        process.exitCode = error.code === 'BAD_CONFIG' ? 2 : 1;
      } else {
        process.stderr.write(
          `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
        process.exitCode = 70;
      }
    },
  );
}

/** The flags that the indexing CLIs (index, reindex) share, as config overrides. */
export interface IngestFlags {
  batch?: number;
  concurrency?: number;
  device?: string;
  dataDir?: string;
  databaseUrl?: string;
}

export function ingestOverrides(flags: IngestFlags): ConfigOverrides {
  return {
    INGEST_BATCH: flags.batch,
    INGEST_CONCURRENCY: flags.concurrency,
    DEVICE: flags.device,
    DATA_DIR: flags.dataDir,
    DATABASE_URL: flags.databaseUrl,
  };
}
