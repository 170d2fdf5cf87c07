/**
 * The HTTP front: a plain node:http server, a router (http/router.ts) holding the plain routes and
 * /graphql, one error handler and one code-to-status table. Every request gets an AbortSignal that
 * fires on the request timeout or when the client goes away; resolvers pass it to the engine and
 * the writer, so a timed-out mutation stops before it commits.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { SearchEngine } from '../search/engine.ts';
import type { CaptionsRepository } from '../store/captions.repository.ts';
import type { CheckpointStatus } from '../store/vector/index.ts';
import { createApollo } from './apollo.ts';
import { mutationGuard } from './auth.ts';
import { batchLoader } from './batch-loader.ts';
import type { ApiContext, IndexWriter } from './context.ts';
import { cors } from './cors.ts';
import { handleError } from './http/error-handler.ts';
import { graphqlRoute } from './http/graphql-route.ts';
import { sendError } from './http/respond.ts';
import { allowHeader, Router, type RequestContext } from './http/router.ts';
import { assetHandler, assetRoutes, plainRoutes } from './http/routes.ts';
import type { IdempotencyOptions } from './idempotency.ts';
import type { ApiMetrics } from './metrics.ts';

export interface ApiServerDeps {
  config: Readonly<Config>;
  logger: Logger;
  engine: SearchEngine;
  /** Absent: a read-only server (mutations answer FORBIDDEN). */
  writer?: IndexWriter;
  captions: CaptionsRepository;
  metrics: ApiMetrics;
  /** Throws when the server cannot serve queries (database unreachable, indexes closed). */
  checkReady: () => Promise<void>;
  /** How index checkpoints are going; failing ones show in `/readyz`. */
  checkpointStatus?: () => Readonly<CheckpointStatus>;
  /** Keeps mutations' answers for retries with an Idempotency-Key; none: the header is ignored. */
  idempotencyKeys?: IdempotencyOptions['store'];
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), stops Apollo. */
  close(graceMs?: number): Promise<void>;
}

export async function startApiServer(
  deps: ApiServerDeps,
  listen: { host: string; port: number },
): Promise<ApiServer> {
  const { config, logger, metrics } = deps;
  const apollo = await createApollo(config, logger, metrics, deps.idempotencyKeys);
  const state = { closing: false, baseUrl: '' };

  const router = new Router();
  const routeDeps = {
    ...deps,
    thumbnails: { cacheDir: config.paths.cache, maxPixels: config.limits.maxImagePixels },
    closing: () => state.closing,
  };
  for (const route of plainRoutes(routeDeps)) router.add(route);
  router.add({
    name: 'graphql',
    methods: '*',
    path: '/graphql',
    handler: graphqlRoute({
      apollo,
      maxBodyBytes: config.limits.maxBodyBytes,
      maxImageBytes: config.limits.maxImageBytes,
      cors: cors({ origins: config.corsOrigins }),
      context: (req, signal) => requestContext(deps, req, signal, state.baseUrl),
      playground: assetHandler('/graphql#playground'),
    }),
  });
  for (const route of assetRoutes()) router.add(route);

  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    if (state.closing) res.setHeader('connection', 'close');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = router.match(req.method ?? 'GET', url.pathname);
    const routeName = match?.route.name ?? 'unknown';
    const run = async (signal: AbortSignal) => {
      if (!match) return sendError(res, 'NOT_FOUND', 'No such page');
      if (!match.methodAllowed) {
        res.setHeader('allow', allowHeader(match.route));
        return sendError(res, 'METHOD_NOT_ALLOWED', `Use ${allowHeader(match.route)}`);
      }
      const ctx: RequestContext = { req, res, url, params: match.params, signal };
      await match.route.handler(ctx);
    };
    withDeadline(run, res, config.limits.requestTimeoutMs)
      .catch((error: unknown) => handleError(error, res, logger, url.pathname))
      .finally(() => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.httpSeconds.observe({ route: routeName, status: String(res.statusCode) }, seconds);
      });
  });
  server.requestTimeout = config.limits.requestTimeoutMs + 5000;
  server.headersTimeout = Math.min(60_000, server.requestTimeout);
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostForUrl = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  state.baseUrl = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`;

  return {
    url: state.baseUrl,
    port,
    server,
    async close(graceMs = 10_000) {
      if (state.closing) return;
      state.closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
      await apollo.stop();
    },
  };
}

/**
 * Runs a handler with a signal that aborts on the deadline (answered TIMEOUT at once, whatever the
 * handler is doing) or when the client closes the connection first (CANCELLED, nobody to answer).
 * The handler keeps running until it notices the signal; it must not answer after that.
 */
async function withDeadline(
  run: (signal: AbortSignal) => Promise<void>,
  res: http.ServerResponse,
  timeoutMs: number,
): Promise<void> {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished)
      controller.abort(new AppError('CANCELLED', 'The client closed the connection'));
  };
  res.once('close', onClose);
  const timer = setTimeout(
    () => controller.abort(new AppError('TIMEOUT', `The request took longer than ${timeoutMs} ms`)),
    timeoutMs,
  );
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
      once: true,
    });
  });
  try {
    await Promise.race([run(controller.signal), aborted]);
  } finally {
    clearTimeout(timer);
    res.off('close', onClose);
  }
}

function requestContext(
  deps: ApiServerDeps,
  req: http.IncomingMessage,
  signal: AbortSignal,
  baseUrl: string,
): ApiContext {
  const host = req.headers.host;
  return {
    engine: deps.engine,
    writer: deps.writer,
    logger: deps.logger,
    signal,
    requireMutationAccess: mutationGuard(deps.config.auth, req.headers.authorization),
    loadCaptions: batchLoader(
      (ids: number[]) => deps.captions.getByImageIds(ids),
      () => [],
    ),
    loadImage: batchLoader(
      (ids: number[]) => deps.engine.getImages(ids),
      () => undefined,
    ),
    baseUrl: host && /^[\w.-]+(:\d+)?$|^\[[\d:a-f.]+\](:\d+)?$/i.test(host) ? `http://${host}` : baseUrl,
  };
}
