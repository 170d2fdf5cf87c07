import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

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
    expect(result.status).toBe(1);
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

  it('migrates the embedded database on a fresh data directory', () => {
    const result = runMigrate({});
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('database (pglite) is at 001_initial.sql');
  });
});
