import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { readMigrations } from '../../src/store/migrate.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';

const tsx = path.resolve('node_modules/.bin/tsx');

function runMigrate(env: Record<string, string>) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cms-cli-'));
  try {
    return spawnSync(tsx, ['scripts/migrate.ts'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env },
      timeout: 60_000,
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('command-line errors', () => {
  it('an unreachable DATABASE_URL gives one clear line naming the setting, no stack, non-zero exit', () => {
    const result = runMigrate({ DATABASE_URL: 'postgresql://app:secret@127.0.0.1:1/nowhere' });
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error \[DB_UNAVAILABLE\]: Cannot connect to DATABASE_URL/);
    expect(result.stderr).not.toContain('secret');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('several invalid settings are all reported at once with exit code 2', () => {
    const result = runMigrate({ PORT: '-1', MODELS: 'giant', HNSW_M: 'x' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('BAD_CONFIG');
    for (const key of ['PORT', 'MODELS', 'HNSW_M']) expect(result.stderr).toContain(key);
  });

  it('migrates the embedded database on a fresh data directory', async () => {
    const result = runMigrate({});
    expect(result.status).toBe(0);
    // At the newest migration, whichever that is (each feature may add one).
    const newest = (await readMigrations()).at(-1)!.name;
    expect(result.stdout).toContain(`database (pglite) is at ${newest}`);
  });
});

function migrateProcess(databaseUrl: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ['scripts/migrate.ts'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('two migrating processes [postgres]', () => {
  it.skipIf(postgresBackend.skipReason !== '')(
    'started together, exactly one of them applies each migration',
    async () => {
      const database = await createPostgresDatabase();
      try {
        const runs = await Promise.all([migrateProcess(database.url), migrateProcess(database.url)]);
        expect(runs.map((r) => r.code)).toEqual([0, 0]);
        const applied = runs.map((r) => r.stderr.split('"applied migration"').length - 1).sort();
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        const rows = (await client.query('SELECT count(*)::int AS n FROM schema_migrations')).rows as {
          n: number;
        }[];
        await client.end();
        expect(applied).toEqual([0, rows[0]!.n]);
      } finally {
        await database.drop();
      }
    },
  );
});

describe('bench flags', () => {
  it('a bench refuses --n abc with a usage error instead of printing NaN results', () => {
    const result = spawnSync(tsx, ['scripts/bench-ann.ts', '--n', 'abc'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'silent' },
      timeout: 60_000,
    });
    expect({ status: result.status, stdout: result.stdout }).toEqual({ status: 1, stdout: '' });
    expect(result.stderr).toContain(
      "option '--n <n>' argument 'abc' is invalid. must be a non-negative integer",
    );
  });
});
