import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startWatchdog } from './watchdog.ts';

describe('the test watchdog', () => {
  it('kills a process whose guarded step blocks the event loop, naming the step', () => {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', 'hang.ts'), '300'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(child.signal).toBe('SIGKILL');
    expect(child.stderr).toContain('WATCHDOG: step "a step that never returns" did not finish within 300 ms');
  });

  it('lets steps that finish pass their result through, however long they wait in between', async () => {
    const watchdog = startWatchdog(1_000);
    try {
      expect(await watchdog.guard('quick', () => 42)).toBe(42);
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // idle time between steps is not bounded
      await expect(watchdog.guard('throws', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    } finally {
      await watchdog.stop();
    }
  });
});
