import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixture, type Fixture } from './fixtures.ts';

/**
 * `index` and `reindex` exit codes are a contract for scripts: 0 all good, 1 the run finished but
 * some items failed, 2 it could not run. Real processes on a real data directory.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let work: string;
let fixture: Fixture;

function run(script: string, args: string[], dataDir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent', DEVICE: 'cpu' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'exit-codes-'));
  fixture = await writeFixture(path.join(work, 'source'), 3);
  // The same images without the fixture's failing lines: a run where nothing fails.
  const lines = (await readFile(fixture.manifest, 'utf8')).split('\n').filter((l) => /img\d+\.jpg/.test(l));
  await writeFile(path.join(fixture.dir, 'good.jsonl'), lines.slice(0, 3).join('\n') + '\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('index and reindex exit codes', () => {
  it('index: 0 when nothing failed, 1 when the run finished with failed items, then reindex 0', async () => {
    const dataDir = path.join(work, 'data-mixed');
    const good = await run('index', [path.join(fixture.dir, 'good.jsonl')], dataDir);
    expect({ code: good.code, failed: /failed:\s+(\d+)/.exec(good.out)?.[1] }).toEqual({
      code: 0,
      failed: '0',
    });
    const mixed = await run('index', [fixture.manifest], dataDir);
    const failed = Object.values(fixture.bad).reduce((a, b) => a + b, 0);
    expect({ code: mixed.code, failed: Number(/failed:\s+(\d+)/.exec(mixed.out)?.[1]) }).toEqual({
      code: 1,
      failed,
    });
    // --list-failed names each failed item with its reason, reads only, and exits 1 like the run.
    const json = path.join(work, 'failed.json');
    const listed = await run('index', [fixture.manifest, '--list-failed', '--json', json], dataDir);
    expect(listed.code).toBe(1);
    expect(listed.out).toContain(`${failed} failed items`);
    const report = JSON.parse(await readFile(json, 'utf8')) as { failed: { key: string; error: string }[] };
    expect(report.failed.map((f) => f.error.split(':')[0]).sort()).toEqual(Object.keys(fixture.bad).sort());
    for (const f of report.failed) expect(listed.out).toContain(`  ${f.key}\t${f.error}`);
    const none = await run('index', [path.join(fixture.dir, 'good.jsonl'), '--list-failed'], dataDir);
    expect({ code: none.code, said: none.out.includes('0 failed items') }).toEqual({ code: 0, said: true });
    const reindexed = await run('reindex', [], dataDir);
    expect(reindexed.code).toBe(0);
  });

  it('index and reindex exit 2 when they cannot run: missing source, bad flag value', async () => {
    const dataDir = path.join(work, 'data-bad');
    const missing = await run('index', [path.join(work, 'no-such-source.jsonl')], dataDir);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/^error \[SOURCE_INVALID\]/m);
    const badFlag = await run('index', [fixture.manifest, '--batch', '-1'], dataDir);
    expect(badFlag.code).toBe(2);
    expect(badFlag.out).toContain('--batch must be a non-negative integer, got -1');
    expect((await run('reindex', ['--batch', 'abc'], dataDir)).code).toBe(2);
  });

  it('--checkpoint-every refuses what is not a non-negative number, with exit 2', async () => {
    const dataDir = path.join(work, 'data-checkpoint');
    for (const value of ['abc', '-1']) {
      const result = await run('index', [fixture.manifest, '--checkpoint-every', value], dataDir);
      expect({
        code: result.code,
        said: result.out.includes(`--checkpoint-every must be a non-negative number, got ${value}`),
      }).toEqual({ code: 2, said: true });
    }
  });

  it('--help documents the exit codes', async () => {
    for (const script of ['index', 'reindex']) {
      const help = await run(script, ['--help'], path.join(work, 'data-help'));
      expect(help.code).toBe(0);
      expect(help.out).toMatch(
        /Exit codes \(stable\):\n {2}0 .*\n {2}1 .*some items failed.*\n {2}2 .*could not run/,
      );
    }
  });
});
