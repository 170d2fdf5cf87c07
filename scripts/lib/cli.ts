import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ConfigOverrides } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { explainStorageError } from '../../src/os-errors.ts';

/**
 * Runs a CLI's main function. Expected failures print one line, `error [CODE]: ...` naming the fix,
 * and exit 2 ("could not run"): an AppError, or a failure of the machine (a full disk, an unwritable
 * path) that surfaced without one. Anything else is a bug and prints its stack (70).
 */
export function runCli(main: () => Promise<number | void>, options: { errorExit?: number } = {}): void {
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (error: unknown) => {
      const expected = error instanceof AppError ? error : explainStorageError(error);
      if (expected) {
        process.stderr.write(`error [${expected.code}]: ${expected.message}\n`);
        process.exitCode = options.errorExit ?? COULD_NOT_RUN;
      } else {
        process.stderr.write(
          `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
        process.exitCode = 70;
      }
    },
  );
}

/** Every command's exit status when it could not do its work (bad settings, flags, disk, database). */
const COULD_NOT_RUN = 2;

/**
 * Refuses an output file (`--json <path>`) whose folder is missing or not writable, before the run
 * rather than after it: a long index or benchmark must not end by losing its summary.
 */
export async function checkOutputPath(file: string | undefined, flag = '--json'): Promise<void> {
  if (file === undefined) return;
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const writable = (p: string) =>
    access(p, constants.W_OK).then(
      () => undefined,
      () => `${p} is not writable`,
    );
  const problem = await stat(target).then(
    (s) => (s.isDirectory() ? `${target} is a folder` : writable(target)),
    () =>
      stat(dir).then(
        (s) => (s.isDirectory() ? writable(dir) : `${dir} is not a folder`),
        () => `the folder ${dir} does not exist`,
      ),
  );
  if (problem)
    throw new AppError(
      'INVALID_INPUT',
      `${flag} ${file}: ${problem}; create the folder (mkdir -p) or choose another path`,
    );
}

/** Writes `value` as JSON to an output file; a failure names the file (`--json /dev/full [ENOSPC]`). */
export async function writeJsonOutput(file: string, value: unknown, flag = '--json'): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`).catch((error: unknown) => {
    throw explainStorageError(error, `${flag} ${file}`) ?? error;
  });
}

/**
 * The exit codes of `index` and `reindex`, a contract that scripts and CI branch on: keep them
 * stable. 1 is kept for a run that finished with failed items, so that "some items need a look"
 * never reads the same as "nothing ran".
 */
export const INGEST_EXIT = { ok: 0, itemsFailed: 1, couldNotRun: COULD_NOT_RUN } as const;

const INGEST_EXIT_HELP = `
Exit codes (stable):
  0        the run finished and no item failed
  1        the run finished, but some items failed (counted in the summary)
  2        the run could not run: bad flags or settings, unreadable source, database or lock errors,
           an unwritable or full DATA_DIR (one line "error [CODE]: ..." names the fix)
  130/143  stopped by SIGINT/SIGTERM after saving; run the same command again to continue
  70       an internal error (a bug: the stack is printed)`;

/**
 * Gives an indexing command its documented exit codes: usage errors (unknown flag, bad value) exit
 * 2 like every other "could not run", not commander's default 1, which means "some items failed".
 */
export function withIngestExitCodes(program: Command): Command {
  return program.addHelpText('after', INGEST_EXIT_HELP).exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : INGEST_EXIT.couldNotRun);
  });
}

/** A commander parser for a non-negative integer flag: anything else is a usage error. */
export const nonNegativeInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${v}`);
  }
  return n;
};

/** A commander parser for a non-negative number flag (fractions allowed): `Number` let abc and -1 through. */
export const nonNegativeNumber = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative number, got ${v}`);
  }
  return n;
};

/** A commander parser for a whole-number flag of the benches: Number.parseInt turned abc into NaN. */
export function wholeNumber(v: string): number {
  if (!/^\s*\d+\s*$/.test(v)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(v);
}

/** The flags that the indexing CLIs (index, worker, reindex) share, as config overrides. */
export interface IngestFlags {
  batch?: number;
  concurrency?: number;
  device?: string;
  dataDir?: string;
  databaseUrl?: string;
  vectorBackend?: string;
}

/** `--vector-backend`, shared by every command that opens the store (start, demo, index, reindex). */
export function vectorBackendOption(): Option {
  return new Option(
    '--vector-backend <backend>',
    'where vectors are searched: hnsw (in-process files) or pgvector (in Postgres) (VECTOR_BACKEND, default hnsw)',
  ).choices(['hnsw', 'pgvector']);
}

/** What `--batch` counts differs per command (a transaction, a claim, a page); so may `--device`'s help. */
export interface IngestCommandHelp {
  batch: string;
  /** @default 'where the encoders run (DEVICE, default auto)' */
  device?: string;
}

/**
 * An indexing command (index, worker, reindex): its exit codes and the encoder flags that
 * `ingestOverrides` reads (--batch, --concurrency, --device), so each means the same everywhere.
 */
export function ingestCommand(name: string, description: string, help: IngestCommandHelp): Command {
  return withIngestExitCodes(new Command(name))
    .description(description)
    .option('--batch <n>', help.batch, nonNegativeInt('--batch'))
    .option(
      '--concurrency <n>',
      'images read and decoded at once (INGEST_CONCURRENCY, default 4)',
      nonNegativeInt('--concurrency'),
    )
    .addOption(
      new Option('--device <device>', help.device ?? 'where the encoders run (DEVICE, default auto)').choices(
        ['auto', 'cpu', 'cuda', 'webgpu'],
      ),
    );
}

/** `--data-dir`, `--database-url` and `--vector-backend` of the commands that open the store (index, reindex). */
export function addStoreOptions(program: Command): Command {
  return program
    .option('--data-dir <dir>', 'data directory (DATA_DIR, default ./data)')
    .option(
      '--database-url <url>',
      'PostgreSQL URL (DATABASE_URL); unset = embedded PGlite under DATA_DIR/pg',
    )
    .addOption(vectorBackendOption());
}

export function ingestOverrides(flags: IngestFlags): ConfigOverrides {
  return {
    INGEST_BATCH: flags.batch,
    INGEST_CONCURRENCY: flags.concurrency,
    DEVICE: flags.device,
    DATA_DIR: flags.dataDir,
    DATABASE_URL: flags.databaseUrl,
    VECTOR_BACKEND: flags.vectorBackend,
  };
}

export interface StopSignal {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** 128 + the signal's number (130 for SIGINT, 143 for SIGTERM) once stopped; else undefined. */
  exitCode(): number | undefined;
}

/**
 * SIGINT (Ctrl-C) and SIGTERM (a service manager, `kill`) ask a long command to stop cleanly: the
 * command finishes the batch it is storing, saves, releases the DATA_DIR lock, records its run and
 * prints its summary, then exits with the conventional 128 + signal number. A second signal, a
 * moment later, exits at once (the lock is freed by the exit; unsaved work is redone next run).
 */
export function stopOnSignals(): StopSignal {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  let since = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = 128 + (os.constants.signals[signal] ?? 0);
    if (received !== undefined) {
      // npm and tsx relay the terminal's Ctrl-C to us too: a copy arriving at once is the same one.
      if (Date.now() - since < 1000) return;
      process.stderr.write(`\n${signal} again: exiting without saving\n`);
      process.exit(code);
    }
    received = signal;
    since = Date.now();
    process.stderr.write(
      `\n${signal}: stopping after the batch being stored; saving the index (${signal} again to exit at once)\n`,
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    exitCode: () => (received === undefined ? undefined : 128 + (os.constants.signals[received] ?? 0)),
  };
}
