/**
 * CORS for browser front ends served from another origin (a dev server on :3000, say).
 *
 * Why our own module: the `cors` package in node_modules is only a transitive dependency (no types,
 * not ours to pin) and it answers a preflight from an unlisted origin with a plain 204, where we want
 * a clear 403. The shape follows hono's `middleware/cors`: options merged over documented defaults.
 *
 * Same-origin requests need none of this, so the default (no origins) adds no header at all.
 * Credentials are never allowed: mutations authenticate with `Authorization: Bearer`, which a page
 * sends explicitly, so cookies have no business crossing origins (and `*` forbids them anyway).
 */
import type http from 'node:http';

export interface CorsOptions {
  /** Exact origins (`scheme://host[:port]`), or `['*']` for any origin; empty = same-origin only. */
  origins: readonly string[];
  /** Methods a preflight may ask for. */
  allowMethods: readonly string[];
  /**
   * Request headers a preflight may ask for. Includes the two Apollo's CSRF prevention accepts as
   * proof of a preflighted request, so a cross-origin client can send GET queries too.
   */
  allowHeaders: readonly string[];
  /** Response headers a page may read. */
  exposeHeaders: readonly string[];
  /** Seconds a browser may cache a preflight answer (Chromium caps it at 7200). */
  maxAge: number;
}

export const CORS_DEFAULTS: Readonly<CorsOptions> = Object.freeze({
  origins: [],
  allowMethods: ['GET', 'POST', 'OPTIONS'],
  allowHeaders: [
    'content-type',
    'authorization',
    'apollo-require-preflight',
    'x-apollo-operation-name',
    'idempotency-key',
  ],
  // A page retrying a mutation can tell a replayed answer from a fresh one.
  exposeHeaders: ['idempotent-replayed'],
  maxAge: 600,
});

/** What the caller does next: answer as usual, or stop because CORS already answered. */
export type CorsOutcome = 'continue' | 'answered';

export type CorsHandler = (req: http.IncomingMessage, res: http.ServerResponse) => CorsOutcome;

export function cors(options: Partial<CorsOptions> = {}): CorsHandler {
  const o: CorsOptions = { ...CORS_DEFAULTS, ...options };
  const any = o.origins.includes('*');
  const allowed = new Set(o.origins);
  const methods = o.allowMethods.join(', ');
  const headers = o.allowHeaders.join(', ');

  return (req, res) => {
    if (o.origins.length === 0) return 'continue';
    // The answer depends on Origin whenever CORS is on (even for `*`: an unlisted origin's preflight
    // differs), so shared caches must key on it.
    res.appendHeader('vary', 'Origin');
    const origin = req.headers.origin;
    const isPreflight =
      req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    // No Origin: not a cross-origin browser request (curl, a server, a same-origin GET): no headers.
    if (origin === undefined) return 'continue';
    if (!any && !allowed.has(origin)) {
      if (!isPreflight) return 'continue'; // served, but the browser will not let the page read it
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Origin ${origin} is not allowed (CORS_ORIGINS)`);
      return 'answered';
    }
    res.setHeader('access-control-allow-origin', any ? '*' : origin);
    if (o.exposeHeaders.length > 0)
      res.setHeader('access-control-expose-headers', o.exposeHeaders.join(', '));
    if (!isPreflight) return 'continue';
    res.writeHead(204, {
      'access-control-allow-methods': methods,
      'access-control-allow-headers': headers,
      'access-control-max-age': String(o.maxAge),
      'content-length': '0',
    });
    res.end();
    return 'answered';
  };
}
