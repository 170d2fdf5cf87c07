/**
 * The one place that wires the application: config -> database -> encoders -> projection ->
 * embedder -> indexes -> engine -> HTTP server. Everything else receives narrow dependencies.
 */
import net from 'node:net';
import type { ApiServer } from './api/http-server.ts';
import { startApiServer } from './api/http-server.ts';
import { createIndexWriter } from './api/index-writer.ts';
import { createMetrics } from './api/metrics.ts';
import { closeAll } from './close-all.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { decodeImage } from './media/image-decode.ts';
import { openEmbedder } from './models/open-embedder.ts';
import { explainListenError } from './os-errors.ts';
import type { Embedder, Encoders } from './models/types.ts';
import { SearchEngine, type EngineOptions } from './search/engine.ts';
import { CaptionsRepository } from './store/captions.repository.ts';
import type { Db } from './store/db.ts';
import { ImagesRepository } from './store/images.repository.ts';
import type { SchemaPolicy } from './store/open-db.ts';
import { openStore } from './store/open-store.ts';
import { openIndexes, type IndexSet } from './store/vector/index-set.ts';
import { VectorsRepository } from './store/vectors.repository.ts';

export interface Core {
  config: Readonly<Config>;
  db: Db;
  encoders: Encoders;
  embedder: Embedder;
  indexes: IndexSet;
  engine: SearchEngine;
  repositories: { images: ImagesRepository; captions: CaptionsRepository; vectors: VectorsRepository };
  /** Checkpoints the indexes, then releases the models and the database. */
  close(): Promise<void>;
}

export interface App extends Core {
  server: ApiServer;
}

/** Everything but the HTTP server: what the API and the CLIs (search, bench) share. */
export async function openCore(
  config: Readonly<Config>,
  logger: Logger,
  options: {
    engine?: EngineOptions;
    onEncode?: (kind: 'text' | 'image', n: number) => void;
    /** Named to a second process refused the data directory. @default 'start' */
    command?: string;
    /** @default 'migrate' (see SchemaPolicy) */
    schema?: SchemaPolicy;
    /** Writes nothing under DATA_DIR (see OpenStoreOptions.readOnly). @default false */
    readOnly?: boolean;
  } = {},
): Promise<Core> {
  // The DATA_DIR lock comes before anything opens the database or an index file.
  const store = await openStore(config, logger, {
    command: options.command ?? 'start',
    schema: options.schema ?? 'migrate',
    readOnly: options.readOnly ?? false,
  });
  const db = store.db;
  const cleanups: (() => Promise<unknown>)[] = [() => store.close()];
  // closeAll runs every closer (last first) even when one fails; a second close waits on the first.
  let closing: Promise<void> | undefined;
  const release = () =>
    (closing ??= closeAll(cleanups).catch((err: unknown) => logger.error({ err }, 'cleanup failed')));
  try {
    const { encoders, projection, embedder } = await openEmbedder(config, logger, cleanups);
    const indexes = await openIndexes({
      config,
      db,
      fingerprint: embedder.fingerprint,
      dims: embedder.dims,
      logger,
      readOnly: options.readOnly ?? false,
    });
    cleanups.push(() => indexes.close());
    const repositories = {
      images: new ImagesRepository(db),
      captions: new CaptionsRepository(db),
      vectors: new VectorsRepository(db),
    };
    const engine = new SearchEngine(
      {
        embedder,
        indexes: { image: indexes.images, caption: indexes.captions },
        ...repositories,
        decodeImage,
        config,
        models: {
          profile: encoders.profile,
          textEncoder: encoders.text.fingerprint,
          imageEncoder: encoders.image.fingerprint,
          projection: projection.fingerprint,
          projectionTrained: projection.trained,
          ...(encoders.providers
            ? { textEncoderProvider: encoders.providers.text, imageEncoderProvider: encoders.providers.image }
            : {}),
        },
        ...(options.onEncode ? { onEncode: options.onEncode } : {}),
      },
      options.engine,
    );
    return { config, db, encoders, embedder, indexes, engine, repositories, close: release };
  } catch (error) {
    await release();
    throw error;
  }
}

/** Opens the core and serves it over HTTP on config.server (port 0 = any free port). */
export async function startApp(
  config: Readonly<Config>,
  logger: Logger,
  options: { engine?: EngineOptions; readOnly?: boolean; command?: string } = {},
): Promise<App> {
  await probeAddress(config.server.host, config.server.port);
  // The metrics exist before the indexes do (the engine reports encoder calls into them).
  const opened: { indexes?: IndexSet } = {};
  const metrics = createMetrics(
    () => ({
      image: opened.indexes?.images.size ?? 0,
      caption: opened.indexes?.captions.size ?? 0,
    }),
    () => opened.indexes?.checkpointStatus(),
  );
  // A server may run as a role that only reads and writes rows: `npm run migrate` changes the schema.
  const core = await openCore(config, logger, {
    ...options,
    schema: 'check',
    onEncode: metrics.observeEncode,
  });
  opened.indexes = core.indexes;
  if (config.auth.apiKey === undefined) {
    if (config.auth.allowUnauthenticatedMutations) {
      logger.warn(
        'mutations are open to anyone: no API_KEY and ALLOW_UNAUTHENTICATED_MUTATIONS=true (development only)',
      );
    } else logger.info('mutations are disabled: set API_KEY to enable them');
  }
  const writer = options.readOnly
    ? undefined
    : createIndexWriter({ config, db: core.db, embedder: core.embedder, indexes: core.indexes, logger });
  let server: ApiServer;
  try {
    server = await startApiServer(
      {
        config,
        logger,
        engine: core.engine,
        ...(writer ? { writer } : {}),
        captions: core.repositories.captions,
        metrics,
        checkReady: async () => {
          await core.db.query('SELECT 1');
        },
        checkpointStatus: () => core.indexes.checkpointStatus(),
      },
      config.server,
    );
  } catch (error) {
    await core.close();
    throw explainListenError(error, config.server.host, config.server.port) ?? error;
  }
  // Save what mutations added now and then, so a crash loses little reconcile work.
  const checkpoints = setInterval(() => {
    core.indexes.checkpoint().catch((err: unknown) => logger.error({ err }, 'index checkpoint failed'));
  }, 60_000);
  checkpoints.unref();
  logger.info({ url: server.url }, 'serving');
  return {
    ...core,
    server,
    async close() {
      clearInterval(checkpoints);
      await server.close();
      await core.close();
    },
  };
}

/**
 * Fails within a second on a port in use or a HOST that is not this machine's, instead of after
 * loading the models (minutes for real ones). The real listen still reports a port taken meanwhile.
 */
async function probeAddress(host: string, port: number): Promise<void> {
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, host, resolve);
    });
  } catch (error) {
    throw explainListenError(error, host, port) ?? error;
  }
  await new Promise((resolve) => probe.close(resolve));
}

/**
 * Serves until SIGINT or SIGTERM, then shuts down gracefully: stop accepting, finish in-flight
 * requests, save the indexes, close the database. A second signal exits at once.
 */
export function closeOnSignal(app: App, logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    let stoppingSince = 0;
    const stop = (signal: NodeJS.Signals) => {
      if (stoppingSince > 0) {
        // A relayed copy of the same signal (runners, process managers) arrives at once; only a later one is a person insisting.
        if (Date.now() - stoppingSince < 1000) return;
        logger.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      stoppingSince = Date.now();
      logger.info({ signal }, 'shutting down: finishing in-flight requests and saving the index');
      app.close().then(() => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        logger.info('stopped');
        resolve();
      }, reject);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** What to tell a person who just started the server. */
export function describeUrls(app: App): string {
  const url = app.server.url;
  return [
    `search page:        ${url}/`,
    `GraphQL playground: ${url}/graphql`,
    `GraphQL endpoint:   POST ${url}/graphql`,
    `health / metrics:   ${url}/healthz  ${url}/metrics`,
  ].join('\n');
}
