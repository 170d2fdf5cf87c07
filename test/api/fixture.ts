/**
 * A real server for API tests: tiny ONNX models, a synthetic image collection indexed into PGlite
 * (or a fresh database on the test PostgreSQL server), real HNSW indexes, HTTP on port 0.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig, type ConfigOverrides } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startApp, type App, type Core } from '../../src/main.ts';
import type { IndexWriter } from '../../src/api/context.ts';
import { decodeImage } from '../../src/media/image-decode.ts';
import type { EngineOptions } from '../../src/search/engine.ts';
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
  createWriter?: (core: Core) => IndexWriter;
  /** Index the samples. @default true */
  index?: boolean;
}

/** Indexes manifest lines the way the batch pipeline does: rows, vectors, then the HNSW indexes. */
export async function indexSamples(core: Core, samplesDir: string, lines: ManifestLine[]): Promise<void> {
  const { images, captions: _c, vectors } = core.repositories;
  for (let start = 0; start < lines.length; start += 16) {
    const batch = lines.slice(start, start + 16);
    const items = await Promise.all(
      batch.map(async (line) => {
        const file = path.join(samplesDir, line.image);
        const bytes = await readFile(file);
        const pixels = await decodeImage(bytes, core.embedder.preprocess, { maxBytes: 1 << 24, maxPixels: 1 << 24 });
        return { line, file, bytes, pixels };
      }),
    );
    const inserted = [];
    for (const item of items) {
      const result = await images.insertWithCaptions(
        {
          sha256: createHash('sha256').update(item.bytes).digest('hex'),
          uri: pathToFileURL(item.file).toString(),
          width: item.pixels.source.width,
          height: item.pixels.source.height,
          format: item.pixels.source.format,
          bytes: item.bytes.length,
          metadata: { split: item.line.metadata.split, name: path.basename(item.line.image) },
        },
        item.line.captions,
      );
      inserted.push(result);
    }
    const imageVectors = await core.embedder.embedPixels(items.map((i) => i.pixels));
    const allCaptions = inserted.flatMap((r) => r.captions);
    const captionVectors = (await core.embedder.embedTexts(allCaptions.map((c) => c.text))).vectors;
    const fp = core.embedder.fingerprint;
    await vectors.upsert('image', fp, inserted.map((r, i) => ({ id: r.image.id, vector: imageVectors[i]! })));
    await vectors.upsert('caption', fp, allCaptions.map((c, i) => ({ id: c.id, vector: captionVectors[i]! })));
    core.indexes.add('image', inserted.map((r) => r.image.id), imageVectors);
    core.indexes.add('caption', allCaptions.map((c) => c.id), captionVectors);
  }
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
  const app = await startApp(config, silentLogger, {
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.createWriter ? { createWriter: options.createWriter } : {}),
  });
  if (options.index !== false) await indexSamples(app, samplesDir, manifest);
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
