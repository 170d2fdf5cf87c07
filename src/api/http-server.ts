/**
 * The HTTP front: a plain node:http server with a small router. /graphql goes to Apollo (our own
 * integration: body size cap, timeout, streaming), everything else is a few small handlers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import type { Config } from '../config.ts';
import { AppError, isAppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { SearchEngine } from '../search/engine.ts';
import type { CaptionsRepository } from '../store/captions.repository.ts';
import { createApollo } from './apollo.ts';
import { mutationGuard } from './auth.ts';
import { cors } from './cors.ts';
import { batchLoader } from './batch-loader.ts';
import type { ApiContext, IndexWriter } from './context.ts';
import { parseId } from './inputs.ts';
import type { CheckpointStatus } from '../store/vector/index.ts';
import type { ApiMetrics } from './metrics.ts';
import { loadAsset } from './static-assets.ts';
import { thumbnail } from './thumbnails.ts';

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
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), stops Apollo. */
  close(graceMs?: number): Promise<void>;
}

const STATUS_BY_CODE: Partial<Record<string, number>> = {
  INVALID_INPUT: 400,
  INVALID_IMAGE: 400,
  LIMIT_EXCEEDED: 413,
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  TIMEOUT: 503,
};

const HTML_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; " +
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
};

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) return void res.destroy();
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}

async function readBody(req: http.IncomingMessage, maxBytes: number, maxImageBytes: number): Promise<string> {
  // Mostly an image too large for a query: say so in the units people choose files by.
  const tooLarge = `The request is larger than ${maxBytes} bytes: a query image may be at most ${maxImageBytes} bytes`;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new AppError('LIMIT_EXCEEDED', tooLarge);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new AppError('LIMIT_EXCEEDED', tooLarge);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startApiServer(
  deps: ApiServerDeps,
  listen: { host: string; port: number },
): Promise<ApiServer> {
  const { config, logger, metrics } = deps;
  const apollo = await createApollo(config, logger, metrics);
  let closing = false;
  let baseUrl = '';
  const applyCors = cors({ origins: config.corsOrigins });

  function context(req: http.IncomingMessage): ApiContext {
    const host = req.headers.host;
    return {
      engine: deps.engine,
      writer: deps.writer,
      logger,
      requireMutationAccess: mutationGuard(config.auth, req.headers.authorization),
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

  async function handleGraphql(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const accept = req.headers.accept ?? '';
    if (req.method === 'GET' && !url.searchParams.has('query') && accept.includes('text/html')) {
      return serveAsset(res, '/graphql#playground');
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('allow', 'GET, POST');
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', 'Use GET or POST');
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req, config.limits.maxBodyBytes, config.limits.maxImageBytes);
      if ((headers.get('content-type') ?? '').includes('json')) {
        try {
          body = JSON.parse(raw);
        } catch {
          return sendError(res, 400, 'BAD_REQUEST', 'The request body is not valid JSON');
        }
      } else body = raw;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), config.limits.requestTimeoutMs);
    });
    const result = await Promise.race([
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method, headers, search: url.search, body },
        context: async () => context(req),
      }),
      timeout,
    ]).finally(() => clearTimeout(timer));
    if (result === 'timeout') {
      return sendError(
        res,
        503,
        'TIMEOUT',
        `The request took longer than ${config.limits.requestTimeoutMs} ms`,
      );
    }
    await writeGraphqlResponse(res, result);
  }

  async function writeGraphqlResponse(res: http.ServerResponse, result: HTTPGraphQLResponse): Promise<void> {
    res.statusCode = result.status ?? 200;
    for (const [key, value] of result.headers) res.setHeader(key, value);
    if (result.body.kind === 'complete') return void res.end(result.body.string);
    for await (const chunk of result.body.asyncIterator) res.write(chunk);
    res.end();
  }

  async function serveAsset(res: http.ServerResponse, key: string): Promise<void> {
    const asset = await loadAsset(key);
    if (!asset) return sendError(res, 404, 'NOT_FOUND', 'No such page');
    res.writeHead(200, {
      'content-type': asset.type,
      'cache-control': key.startsWith('/assets/') ? 'public, max-age=300' : 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(asset.type.startsWith('text/html') ? HTML_HEADERS : {}),
    });
    res.end(asset.body);
  }

  async function handleThumbnail(res: http.ServerResponse, rawId: string): Promise<void> {
    const image = await deps.engine.getImage(parseId(rawId));
    if (!image) throw new AppError('NOT_FOUND', `No image with id ${rawId}`);
    const body = await thumbnail(image, {
      cacheDir: config.paths.cache,
      maxPixels: config.limits.maxImagePixels,
    });
    res.writeHead(200, {
      'content-type': 'image/webp',
      'cache-control': 'public, max-age=86400',
      etag: `"${image.sha256}"`,
      'x-content-type-options': 'nosniff',
    });
    res.end(body);
  }

  async function route(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    named: (name: string) => void,
  ): Promise<string> {
    const path = url.pathname;
    if (path === '/graphql') {
      // Only the API crosses origins; pages, media and metrics stay same-origin.
      if (applyCors(req, res) === 'answered') return 'graphql';
      await handleGraphql(req, res, url);
      return 'graphql';
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'METHOD_NOT_ALLOWED', 'Only GET here');
      return 'other';
    }
    if (path === '/favicon.ico') {
      // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
      res.writeHead(204, { 'cache-control': 'public, max-age=86400' });
      res.end();
      return 'other';
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return 'healthz';
    }
    if (path === '/readyz') {
      try {
        await deps.checkReady();
        const checkpoint = deps.checkpointStatus?.();
        // Still 200: queries are answered from memory. Marking every replica on a full disk unready
        // would turn a disk warning into an outage; the body and /metrics carry the alarm.
        if (!closing && checkpoint && checkpoint.consecutiveFailures > 0) {
          sendJson(res, 200, { status: 'degraded', checkpoint: { failing: true, ...checkpoint } });
        } else sendJson(res, closing ? 503 : 200, { status: closing ? 'closing' : 'ready' });
      } catch (error) {
        logger.warn({ err: error }, 'readiness check failed');
        sendJson(res, 503, { status: 'unavailable' });
      }
      return 'readyz';
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
      return 'metrics';
    }
    const thumb = /^\/media\/([^/]+)\/thumbnail$/.exec(path);
    if (thumb) {
      // Named before the work: a 404 thrown below is still counted under this route, not "unknown".
      named('thumbnail');
      await handleThumbnail(res, thumb[1]!);
      return 'thumbnail';
    }
    await serveAsset(res, path);
    return path === '/' ? 'page' : 'asset';
  }

  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    let routeName = 'unknown';
    if (closing) res.setHeader('connection', 'close');
    const url = new URL(req.url ?? '/', 'http://localhost');
    route(req, res, url, (name) => (routeName = name))
      .then((name) => {
        routeName = name;
      })
      .catch((error: unknown) => {
        if (isAppError(error)) {
          sendError(res, STATUS_BY_CODE[error.code] ?? 400, error.code, error.message);
        } else if (req.destroyed && !req.complete) {
          // The client left mid-request (aborted an upload, closed the tab): not a server fault.
          logger.warn({ url: url.pathname, err: error }, 'client closed the request before it was read');
        } else {
          logger.error({ err: error, url: url.pathname }, 'unhandled error serving a request');
          sendError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
        }
      })
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
  baseUrl = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`;

  return {
    url: baseUrl,
    port,
    server,
    async close(graceMs = 10_000) {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
      await apollo.stop();
    },
  };
}
