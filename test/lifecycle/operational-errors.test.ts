import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixture, type Fixture } from '../ingest/fixtures.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';

/**
 * Failures of the machine (a taken port, a HOST that is not ours, a DATA_DIR that is a file, read
 * only or full, a foreign migration table, an output folder that is missing) end a command with one
 * line naming the fix and exit 2, never `internal error:` with a stack and 70. Real processes.
 */
/** Spawned CLIs load models and databases on two shared cores: minutes, not the default minute. */
const SLOW = 240_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let work: string;
let fixture: Fixture;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `scripts/<script>.ts`. With `tmpfs`, first mounts a fresh tmpfs with those options on
 * `tmpfs.at` in a private user and mount namespace (`unshare -rm`): a read-only or tiny disk
 * without needing root, and without touching the machine's mounts.
 */
function cli(
  script: string,
  args: string[],
  env: Record<string, string>,
  tmpfs?: { at: string; options: string },
): Promise<Result> {
  const node = [process.execPath, '--import', 'tsx', `scripts/${script}.ts`, ...args];
  const [file, argv] = tmpfs
    ? [
        'unshare',
        [
          '-rm',
          'sh',
          '-c',
          'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"',
          'sh',
          tmpfs.options,
          tmpfs.at,
          ...node,
        ],
      ]
    : [node[0]!, node.slice(1)];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'silent', DEVICE: 'cpu', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Exit 2 and exactly one line on stderr: `error [code]: ...` matching `fix`; no stack. */
function expectOneLine(result: Result, code: string, fix: RegExp): void {
  const lines = result.stderr.trim().split('\n');
  expect(
    { exit: result.code, lines: lines.length, internal: result.stderr.includes('internal error') },
    result.stderr,
  ).toEqual({
    exit: 2,
    lines: 1,
    internal: false,
  });
  expect(lines[0]).toMatch(new RegExp(`^error \\[${code}\\]: `));
  expect(lines[0]).toMatch(fix);
}

/** Why the tmpfs cases cannot run here ('' when they can); printed when they are skipped. */
const namespaces =
  spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs tmpfs "$1"', 'sh', os.tmpdir()]).status === 0
    ? ''
    : 'unshare -rm cannot mount a tmpfs here (user namespaces disabled)';
if (namespaces) console.warn(`SKIPPED read-only and full DATA_DIR cases: ${namespaces}`);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ops-errors-'));
  fixture = await writeFixture(path.join(work, 'source'), 2);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('start: the address', () => {
  it(
    'a port in use names PORT and the way out, before loading any model',
    async () => {
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as net.AddressInfo).port;
      try {
        const r = await cli('start', [], { DATA_DIR: path.join(work, 'data-port'), PORT: String(port) });
        expectOneLine(
          r,
          'ADDRESS_UNAVAILABLE',
          new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use.*set PORT`),
        );
      } finally {
        taken.close();
      }
    },
    SLOW,
  );

  it(
    'a HOST that does not resolve, or is not an address of this machine, names HOST',
    async () => {
      const dataDir = path.join(work, 'data-host');
      const unknown = await cli('start', [], { DATA_DIR: dataDir, PORT: '0', HOST: 'no-such-host.invalid' });
      expectOneLine(unknown, 'ADDRESS_UNAVAILABLE', /HOST no-such-host\.invalid does not resolve.*set HOST/);
      // 192.0.2.0/24 is TEST-NET-1: documentation only, never assigned to a machine.
      const foreign = await cli('start', [], { DATA_DIR: dataDir, PORT: '0', HOST: '192.0.2.1' });
      expectOneLine(
        foreign,
        'ADDRESS_UNAVAILABLE',
        /HOST 192\.0\.2\.1 is not an address of this machine.*set HOST/,
      );
    },
    SLOW,
  );
});

describe('DATA_DIR', () => {
  it(
    'a file where DATA_DIR should be is named, with the fix',
    async () => {
      const file = path.join(work, 'a-file');
      await writeFile(file, 'not a directory');
      const r = await cli('migrate', [], { DATA_DIR: file });
      expectOneLine(
        r,
        'PATH_UNUSABLE',
        new RegExp(`DATA_DIR ${file}: a file stands where a directory is needed.*set DATA_DIR`),
      );
      expect(await readFile(file, 'utf8')).toBe('not a directory');
    },
    SLOW,
  );

  it.skipIf(namespaces !== '')(
    'a read-only DATA_DIR (and one that cannot be created on it) is named, with the fix',
    async () => {
      const mount = path.join(work, 'ro');
      await mkdir(mount);
      const ro = { at: mount, options: 'ro,size=1m' };
      const r = await cli('migrate', [], { DATA_DIR: mount }, ro);
      expectOneLine(
        r,
        'PATH_UNUSABLE',
        new RegExp(`Cannot write DATA_DIR ${mount} \\[EROFS: read-only file system\\].*writable`),
      );
      const below = await cli('start', [], { DATA_DIR: path.join(mount, 'data'), PORT: '0' }, ro);
      expectOneLine(below, 'PATH_UNUSABLE', new RegExp(`Cannot create DATA_DIR ${mount}/data \\[ENOENT\\]`));
    },
    SLOW,
  );

  it.skipIf(namespaces !== '')(
    'a full disk under DATA_DIR is DISK_FULL, naming the fix',
    async () => {
      const mount = path.join(work, 'small');
      await mkdir(mount);
      const r = await cli(
        'migrate',
        [],
        { DATA_DIR: path.join(mount, 'data') },
        { at: mount, options: 'size=2m' },
      );
      expectOneLine(
        r,
        'DISK_FULL',
        /No space left on the disk for the embedded database in .*\[ENOSPC\]: free some space, or set DATA_DIR/,
      );
    },
    SLOW,
  );
});

describe('a schema_migrations table made by another tool', () => {
  // Rails, Flyway and golang-migrate keep a table of that name too, with other columns.
  const FOREIGN =
    "CREATE TABLE schema_migrations (version varchar PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101')";

  it(
    'embedded: refused with MIGRATION_CONFLICT and the columns found, the table left alone',
    async () => {
      const dataDir = path.join(work, 'data-foreign');
      await mkdir(path.join(dataDir, 'pg'), { recursive: true });
      const db = new PGlite(path.join(dataDir, 'pg'));
      await db.exec(FOREIGN);
      await db.close();
      const r = await cli('migrate', [], { DATA_DIR: dataDir });
      expectOneLine(
        r,
        'MIGRATION_CONFLICT',
        /schema_migrations table that another tool made \(columns: version\).*database of its own/,
      );
      const again = new PGlite(path.join(dataDir, 'pg'));
      expect((await again.query('SELECT version FROM schema_migrations')).rows).toEqual([
        { version: '20240101' },
      ]);
      await again.close();
    },
    SLOW,
  );

  it.skipIf(postgresBackend.skipReason !== '')(
    'PostgreSQL server: the same, for migrate and start',
    async () => {
      const database = await createPostgresDatabase();
      try {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        await client.query(FOREIGN);
        await client.end();
        for (const script of ['migrate', 'start']) {
          const r = await cli(script, [], {
            DATA_DIR: path.join(work, `data-foreign-${script}`),
            DATABASE_URL: database.url,
            PORT: '0',
          });
          expectOneLine(
            r,
            'MIGRATION_CONFLICT',
            /schema_migrations table that another tool made \(columns: version\)/,
          );
        }
      } finally {
        await database.drop();
      }
    },
    SLOW,
  );
});

describe('--json output', () => {
  it(
    'a missing folder is refused before the run: nothing indexed, evaluated or benchmarked',
    async () => {
      const dataDir = path.join(work, 'data-json');
      const missing = path.join(work, 'no-such-folder', 'summary.json');
      const index = await cli('index', [fixture.manifest, '--json', missing], { DATA_DIR: dataDir });
      expectOneLine(
        index,
        'INVALID_INPUT',
        new RegExp(
          `--json ${missing}: the folder ${path.dirname(missing)} does not exist; create the folder`,
        ),
      );
      // Refused before the lock, the database or any model: the data directory was never made.
      expect(existsSync(dataDir)).toBe(false);
      const evaluate = await cli('eval', ['--json', missing], { DATA_DIR: dataDir });
      expectOneLine(evaluate, 'INVALID_INPUT', /the folder .* does not exist/);
      const bench = await cli('bench-ann', ['--n', '10', '--json', missing], {});
      expectOneLine(bench, 'INVALID_INPUT', /the folder .* does not exist/);
    },
    SLOW,
  );

  it(
    'a full disk while writing the summary is DISK_FULL with exit 2, after the run was recorded',
    async () => {
      const dataDir = path.join(work, 'data-full-json');
      // /dev/full answers every write with ENOSPC.
      const r = await cli('index', [fixture.manifest, '--json', '/dev/full'], { DATA_DIR: dataDir });
      expectOneLine(
        r,
        'DISK_FULL',
        /No space left on the disk for --json \/dev\/full \[ENOSPC\]: free some space/,
      );
      expect(r.stdout).toMatch(new RegExp(`indexed:\\s+${fixture.good} images`));
    },
    SLOW,
  );
});

describe('inputs that cannot be what was meant', () => {
  it(
    'eval --projection naming a missing folder, or one with no projection, is MODEL_MISSING before any encoding',
    async () => {
      const dataDir = path.join(work, 'data-eval');
      const missing = path.join(work, 'no-such-projection');
      const r = await cli('eval', ['--projection', missing], { DATA_DIR: dataDir });
      expectOneLine(
        r,
        'MODEL_MISSING',
        new RegExp(`--projection ${missing} does not exist: give the folder`),
      );
      const empty = path.join(work, 'empty-projection');
      await mkdir(empty);
      const none = await cli('eval', ['--projection', empty], { DATA_DIR: dataDir });
      expectOneLine(none, 'MODEL_MISSING', new RegExp(`--projection ${empty} holds no projection`));
      // Refused before the models were made or loaded.
      expect(existsSync(path.join(dataDir, 'models'))).toBe(false);
    },
    SLOW,
  );

  it(
    'index of a manifest read with the wrong --format finds no items: SOURCE_INVALID, exit 2, nothing recorded',
    async () => {
      const dataDir = path.join(work, 'data-format');
      const r = await cli('index', [fixture.manifest, '--format', 'flickr30k'], { DATA_DIR: dataDir });
      expectOneLine(
        r,
        'SOURCE_INVALID',
        /holds no items read as flickr30k: is --format flickr30k right for this file\?/,
      );
      expect(existsSync(path.join(dataDir, 'pg'))).toBe(false);
    },
    SLOW,
  );
});
