import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';

/** A config over a fresh temporary DATA_DIR on CPU; `cleanup` removes the folder. */
export async function tempConfig(): Promise<{
  config: Readonly<Config>;
  dir: string;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'train-test-'));
  const config = loadConfig({
    env: {},
    overrides: { DATA_DIR: dir, DEVICE: 'cpu', LOG_LEVEL: 'silent', ORT_INTRA_THREADS: 2 },
  });
  return { config, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
