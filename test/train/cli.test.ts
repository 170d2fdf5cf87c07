import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempConfig } from './helpers.ts';

const run = promisify(execFile);
const temp = await tempConfig();
afterAll(() => temp.cleanup());

/** Runs a script with tsx; resolves with the exit code and stderr instead of throwing. */
async function cli(script: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const tsx = path.resolve('node_modules/.bin/tsx');
  try {
    const r = await run(tsx, [path.resolve('scripts', script), ...args], {
      env: { ...process.env, DATA_DIR: temp.dir, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('training CLIs on bad input', () => {
  it('train refuses a non-positive --epochs with INVALID_INPUT', async () => {
    const r = await cli('train.ts', ['--data', path.join(temp.dir, 'x.jsonl'), '--epochs', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'error [INVALID_INPUT]: invalid training options:\n  - --epochs: Too small: expected number to be >=1 (got 0)',
    );
  });

  it('eval reports a missing data file as SOURCE_INVALID', async () => {
    const r = await cli('eval.ts', ['--data', path.join(temp.dir, 'missing.jsonl')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [SOURCE_INVALID]');
  });
});

describe('train CLI hyperparameters', () => {
  it('lists every bad numeric flag in one INVALID_INPUT before reading any data', async () => {
    const r = await cli('train.ts', [
      '--data',
      path.join(temp.dir, 'x.jsonl'),
      '--lr',
      '1e30',
      '--weight-decay',
      'abc',
      '--train-images',
      '1',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /error \[INVALID_INPUT\]: invalid training options:\n {2}- --lr: .*\n {2}- --weight-decay: .*\(got NaN\)\n {2}- --train-images: /,
    );
  });
});

describe('classifier CLI hyperparameters', () => {
  it('train-classifier names every bad numeric flag as typed, its own --task-images included', async () => {
    const args = '--task match --hidden x --weight-decay 1 --task-images 9'.split(' ');
    const r = await cli('train-classifier.ts', args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error [INVALID_INPUT]: invalid training options:\n' +
        '  - --hidden: Invalid input: expected number, received NaN (got NaN)\n' +
        '  - --weight-decay: Too big: expected number to be <1 (got 1)\n' +
        '  - --task-images: Too small: expected number to be >=10 (got 9)\n',
    );
  });
});
