/**
 * The plain routes: health, readiness, metrics, thumbnails, pages and assets. Each is one entry;
 * /graphql is added by the server beside them.
 */
import type { Logger } from '../../logger.ts';
import type { SearchEngine } from '../../search/engine.ts';
import type { CheckpointStatus } from '../../store/vector/index.ts';
import { AppError } from '../../errors.ts';
import { parseId } from '../inputs.ts';
import type { ApiMetrics } from '../metrics.ts';
import { loadAsset } from '../static-assets.ts';
import { thumbnail } from '../thumbnails.ts';
import { sendError, sendJson } from './respond.ts';
import type { Handler, Route } from './router.ts';

export interface PlainRouteDeps {
  logger: Logger;
  engine: SearchEngine;
  metrics: ApiMetrics;
  thumbnails: { cacheDir: string; maxPixels: number };
  checkReady: () => Promise<void>;
  checkpointStatus?: () => Readonly<CheckpointStatus>;
  /** True once the server is shutting down (readiness turns 503). */
  closing: () => boolean;
}

const HTML_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; " +
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
};

const GET = ['GET'] as const;

/** Serves a page or asset by key (`/graphql#playground` is the playground page). */
export function assetHandler(key?: string): Handler {
  return async ({ res, url }) => {
    const name = key ?? url.pathname;
    const asset = await loadAsset(name);
    if (!asset) return sendError(res, 'NOT_FOUND', 'No such page');
    res.writeHead(200, {
      'content-type': asset.type,
      'cache-control': name.startsWith('/assets/') ? 'public, max-age=300' : 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(asset.type.startsWith('text/html') ? HTML_HEADERS : {}),
    });
    res.end(asset.body);
  };
}

/** Routes before `/graphql`'s: exact paths first, the asset catch-all last (see `assetRoutes`). */
export function plainRoutes(deps: PlainRouteDeps): Route[] {
  return [
    {
      name: 'other',
      methods: GET,
      path: '/favicon.ico',
      // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
      handler: ({ res }) => {
        res.writeHead(204, { 'cache-control': 'public, max-age=86400' });
        res.end();
      },
    },
    {
      name: 'healthz',
      methods: GET,
      path: '/healthz',
      handler: ({ res }) => sendJson(res, 200, { status: 'ok' }),
    },
    { name: 'readyz', methods: GET, path: '/readyz', handler: readiness(deps) },
    {
      name: 'metrics',
      methods: GET,
      path: '/metrics',
      handler: async ({ res }) => {
        const body = await deps.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
        res.end(body);
      },
    },
    {
      name: 'thumbnail',
      methods: GET,
      path: /^\/media\/([^/]+)\/thumbnail$/,
      handler: thumbnailHandler(deps),
    },
  ];
}

/** The pages and assets: the catch-all, added after every other route. */
export function assetRoutes(): Route[] {
  return [
    { name: 'page', methods: GET, path: '/', handler: assetHandler() },
    { name: 'asset', methods: GET, path: /^\//, handler: assetHandler() },
  ];
}

function readiness(deps: PlainRouteDeps): Handler {
  return async ({ res }) => {
    try {
      await deps.checkReady();
    } catch (error) {
      deps.logger.warn({ err: error }, 'readiness check failed');
      return sendJson(res, 503, { status: 'unavailable' });
    }
    const closing = deps.closing();
    const checkpoint = deps.checkpointStatus?.();
    // Still 200: queries are answered from memory. Marking every replica on a full disk unready
    // would turn a disk warning into an outage; the body and /metrics carry the alarm.
    if (!closing && checkpoint && checkpoint.consecutiveFailures > 0) {
      sendJson(res, 200, { status: 'degraded', checkpoint: { failing: true, ...checkpoint } });
    } else sendJson(res, closing ? 503 : 200, { status: closing ? 'closing' : 'ready' });
  };
}

function thumbnailHandler(deps: PlainRouteDeps): Handler {
  return async ({ res, params }) => {
    const rawId = params[0]!;
    const image = await deps.engine.getImage(parseId(rawId));
    if (!image) throw new AppError('NOT_FOUND', `No image with id ${rawId}`);
    const body = await thumbnail(image, deps.thumbnails);
    res.writeHead(200, {
      'content-type': 'image/webp',
      'cache-control': 'public, max-age=86400',
      etag: `"${image.sha256}"`,
      'x-content-type-options': 'nosniff',
    });
    res.end(body);
  };
}
