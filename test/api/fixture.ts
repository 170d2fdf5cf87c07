/**
 * A real server for API tests: tiny ONNX models, a synthetic image collection indexed into PGlite
 * (or a fresh database on the test PostgreSQL server), real HNSW indexes, HTTP on port 0.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type ConfigOverrides } from '../../src/config.ts';
import { silentLogger, type Logger } from '../../src/logger.ts';
import { startApp, type App, type Core } from '../../src/main.ts';
import { createIndexWriter } from '../../src/api/index-writer.ts';
import type { IndexWriter } from '../../src/api/context.ts';
import { openDb } from '../../src/store/open-db.ts';
import type { EngineOptions } from '../../src/search/engine.ts';
import { runIngest } from '../../src/ingest/pipeline.ts';
import { openSource } from '../../src/media/sources/open-source.ts';
import { generateSampleData, type ManifestLine } from '../../src/train/synthetic/generate.ts';
import { createPostgresDatabase } from '../setup/databases.ts';

export interface TestApp {
  app: App;
  url: string;
  dataDir: string;
  samplesDir: string;
  manifest: ManifestLine[];
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  backend?: 'pglite' | 'postgres';
  /** Images in the synthetic collection. @default 80 */
  n?: number;
  overrides?: ConfigOverrides;
  engine?: EngineOptions;
  readOnly?: boolean;
  /** Index the samples. @default true */
  index?: boolean;
  /** Where the server logs. @default silentLogger */
  logger?: Logger;
}

/** A writer on the app's own database and indexes, for calls that skip the resolvers' checks. */
export function writerOf(app: App): IndexWriter {
  return createIndexWriter({
    config: app.config,
    db: app.db,
    embedder: app.embedder,
    indexes: app.indexes,
    logger: silentLogger,
  });
}

/** Indexes the sample manifest with the batch pipeline (`npm run index` runs the same code). */
export async function indexSamples(core: Core, manifestPath: string): Promise<void> {
  const source = await openSource(manifestPath);
  const summary = await runIngest(
    source,
    {
      db: core.db,
      embedder: core.embedder,
      indexes: core.indexes,
      limits: { maxBytes: core.config.limits.maxImageBytes, maxPixels: core.config.limits.maxImagePixels },
      logger: silentLogger,
    },
    { batchSize: 32, concurrency: 2 },
  );
  if (summary.failed > 0) throw new Error(`sample indexing failed for ${summary.failed} items`);
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cms-api-'));
  const samplesDir = path.join(dataDir, 'samples');
  const n = options.n ?? 80;
  const { manifestPath } = await generateSampleData({ outDir: samplesDir, n, seed: 7, captionsPerImage: 2 });
  const manifest = (await readFile(manifestPath, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ManifestLine);
  const pg = options.backend === 'postgres' ? await createPostgresDatabase() : undefined;
  const config = loadConfig({
    env: {},
    overrides: {
      DATA_DIR: dataDir,
      DATABASE_URL: pg?.url,
      PORT: 0,
      HOST: '127.0.0.1',
      DEVICE: 'cpu',
      LOG_LEVEL: 'silent',
      ...options.overrides,
    },
  });
  // A server only checks a server database's schema: migrate it as `npm run migrate` would.
  if (config.databaseUrl !== undefined) await (await openDb(config)).close();
  const app = await startApp(config, options.logger ?? silentLogger, {
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.readOnly ? { readOnly: true } : {}),
  });
  if (options.index !== false) await indexSamples(app, manifestPath);
  const url = app.server.url;
  return {
    app,
    url,
    dataDir,
    samplesDir,
    manifest,
    async gql(query, variables, headers) {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as Record<string, unknown>;
      return { status: response.status, ...body } as never;
    },
    async close() {
      await app.close();
      await pg?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function codes(result: { errors?: { extensions?: { code?: string } }[] }): string[] {
  return (result.errors ?? []).map((e) => e.extensions?.code ?? 'NONE');
}
