import { defineConfig } from 'vitest/config';

/**
 * The fast tier (`npm run test:unit`): tests that need neither PostgreSQL nor a browser nor a spawned
 * CLI, and run in seconds; no global PostgreSQL setup. `npm test` runs these and everything else.
 * A test belongs here only if it opens no database server, starts no browser and spawns no command.
 */
export const UNIT_TESTS = [
  'test/foundation/config.test.ts',
  'test/store/redact.test.ts',
  'test/api/stages.test.ts',
  'test/api/write-gate.test.ts',
  'test/search/score-precision.test.ts',
  'test/onnx/graph-builder.test.ts',
  'test/onnx/session.test.ts',
  'test/media/sources-rows.test.ts',
  'test/media/special-files.test.ts',
  'test/models/hub.test.ts',
  'test/train/metrics.test.ts',
  'test/train/infonce-gradients.test.ts',
  'test/train/fit-options.test.ts',
  'test/train/early-stopping.test.ts',
  'test/vector/contract.test.ts',
  'test/train/train-progress.test.ts',
  'test/train/classifier-metrics.test.ts',
  'test/train/classifier-gradients.test.ts',
  'test/search/hydrate-cache.test.ts',
  'test/search/query-image-tokens.test.ts',
  'test/search/query-batcher.test.ts',
  'test/vector/exact-threshold.test.ts',
];

export default defineConfig({
  test: {
    include: UNIT_TESTS,
    testTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
