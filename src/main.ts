/**
 * The one place that wires the application: config -> database -> encoders -> projection ->
 * embedder -> indexes -> engine -> HTTP server. Everything else receives narrow dependencies.
 */
import net from 'node:net';
import type { ApiServer } from './api/http-server.ts';
import { startApiServer } from './api/http-server.ts';
import { createIndexWriter } from './api/index-writer.ts';
import { createMetrics } from './api/metrics.ts';
import { WriteGate } from './api/write-gate.ts';
import { closeAll } from './close-all.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { decodeImage } from './media/image-decode.ts';
import { classifierDir } from './models/classifier-store.ts';
import { openEmbedder } from './models/open-embedder.ts';
import { explainListenError } from './os-errors.ts';
import type { Embedder, Encoders } from './models/types.ts';
import { SearchEngine, type EngineOptions } from './search/engine.ts';
import { CaptionsRepository } from './store/captions.repository.ts';
import type { Db } from './store/db.ts';
import { IdempotencyRepository } from './store/idempotency.repository.ts';
import { ImagesRepository } from './store/images.repository.ts';
import { asFollowTarget, readHorizon, startFollower, type IndexFollower } from './store/index-follower.ts';
import type { SchemaPolicy } from './store/open-db.ts';
import { openStore } from './store/open-store.ts';
import { hnswSearches } from './search/hnsw-search.ts';
import { openVectorBackend, type OpenedBackend } from './store/vector/backend.ts';
import { VectorsRepository } from './store/vectors.repository.ts';

export interface Core {
  config: Readonly<Config>;
  db: Db;
  encoders: Encoders;
  embedder: Embedder;
  /** The vector backend (VECTOR_BACKEND): HNSW files or pgvector tables. */
  indexes: OpenedBackend;
  /**
   * With HNSW on a server and following on: the change-log horizon read before the indexes were
   * loaded, where the index follower starts (src/store/index-follower.ts). pgvector needs none.
   */
  followFrom: string | undefined;
  engine: SearchEngine;
  repositories: { images: ImagesRepository; captions: CaptionsRepository; vectors: VectorsRepository };
  /** Checkpoints the indexes, then releases the models and the database. */
  close(): Promise<void>;
}

export interface App extends Core {
  server: ApiServer;
  /**
   * Drains HTTP (in-flight requests get up to `drainMs`, then their connections are cut), then
   * closes the core. @default drainMs 10 s
   */
  close(drainMs?: number): Promise<void>;
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
    // Read before the indexes load: whatever commits from here on, the follower applies.
    const follows = db.kind === 'postgres' && config.follow.pollMs > 0 && config.vectorBackend === 'hnsw';
    const followFrom = follows ? await readHorizon(db) : undefined;
    const indexes = await openVectorBackend({
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
    const search =
      indexes.name === 'pgvector'
        ? indexes.search
        : hnswSearches(
            { image: indexes.images, caption: indexes.captions },
            repositories,
            embedder.fingerprint,
          );
    const engine = new SearchEngine(
      {
        embedder,
        indexes: search,
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
        classifiers: {
          encoders,
          logitScale: projection.weights.logitScale,
          projection: projection.fingerprint,
          dirOf: (task) => classifierDir(config, task),
          runtime: { device: config.device, ...config.ort, logger },
        },
        ...(options.onEncode ? { onEncode: options.onEncode } : {}),
      },
      options.engine,
    );
    cleanups.push(async () => engine.classifier?.close());
    return { config, db, encoders, embedder, indexes, followFrom, engine, repositories, close: release };
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
  const opened: { indexes?: OpenedBackend } = {};
  const metrics = createMetrics(
    () => opened.indexes?.sizes() ?? { image: 0, caption: 0 },
    () => opened.indexes?.checkpointStatus(),
  );
  // A server may run as a role that only reads and writes rows: `npm run migrate` changes the schema.
  const observeRetrieve = options.engine?.onRetrieve;
  const core = await openCore(config, logger, {
    ...options,
    engine: {
      ...options.engine,
      onRetrieve: (info) => {
        metrics.observeRetrieve(info);
        observeRetrieve?.(info);
      },
    },
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
  // One gate orders this process's index updates: its own writes and the follower's.
  const gate = new WriteGate();
  const writer = options.readOnly
    ? undefined
    : createIndexWriter({
        config,
        db: core.db,
        embedder: core.embedder,
        indexes: core.indexes,
        logger,
        gate,
        onImagesChanged: (ids) => core.engine.forgetImages(ids),
      });
  const follower = await followOthers(core, gate, logger).catch(async (error: unknown) => {
    await core.close();
    throw error;
  });
  let server: ApiServer;
  try {
    server = await startApiServer(
      {
        config,
        logger,
        engine: core.engine,
        ...(writer ? { writer, idempotencyKeys: new IdempotencyRepository(core.db) } : {}),
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
    await follower?.stop();
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
    async close(drainMs?: number) {
      clearInterval(checkpoints);
      await server.close(drainMs);
      await follower?.stop();
      await core.close();
    },
  };
}

/**
 * API replicas on one server: the index follows rows other processes commit (replicas, workers),
 * within about `FOLLOW_POLL_MS` at worst and at the next notification usually.
 */
async function followOthers(core: Core, gate: WriteGate, logger: Logger): Promise<IndexFollower | undefined> {
  if (core.followFrom === undefined || core.indexes.name !== 'hnsw') return undefined;
  const follower = await startFollower({
    db: core.db,
    target: asFollowTarget(core.indexes),
    from: core.followFrom,
    logger,
    pollMs: core.config.follow.pollMs,
    around: (apply) => gate.exclusive(apply),
  });
  logger.info({ pollMs: core.config.follow.pollMs }, 'following the vector tables for other writers');
  return follower;
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
 * requests, save the indexes, close the database. All of it within SHUTDOWN_GRACE_MS: requests get
 * three quarters of it, and when the rest does not finish in time (a database that stopped
 * answering holds its connections) the process says so and exits 1 rather than hang. A second
 * signal exits at once.
 */
export function closeOnSignal(app: App, logger: Logger): Promise<void> {
  const graceMs = app.config.server.shutdownGraceMs;
  return new Promise((resolve, reject) => {
    let stoppingSince = 0;
    let stage = 'draining in-flight requests';
    const stop = (signal: NodeJS.Signals) => {
      if (stoppingSince > 0) {
        // A relayed copy of the same signal (runners, process managers) arrives at once; only a later one is a person insisting.
        if (Date.now() - stoppingSince < 1000) return;
        logger.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      stoppingSince = Date.now();
      logger.info({ signal, graceMs }, 'shutting down: finishing in-flight requests and saving the index');
      const deadline = setTimeout(() => {
        logger.error(
          { graceMs, stage },
          `shutdown did not finish within SHUTDOWN_GRACE_MS (${graceMs} ms) while ${stage}; exiting now (is the database unresponsive?)`,
        );
        process.exit(1);
      }, graceMs);
      const drained = app.server.close(Math.floor(graceMs * 0.75)).then(() => {
        stage = 'saving the indexes and closing the database';
      });
      drained
        .then(() => app.close())
        .then(() => {
          clearTimeout(deadline);
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
