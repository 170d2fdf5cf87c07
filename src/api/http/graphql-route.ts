/**
 * POST/GET /graphql through Apollo: our own integration, so the body has a size cap and the
 * request's AbortSignal (timeout, client gone) reaches the resolvers. The playground page answers
 * a browser's plain GET.
 */
import type http from 'node:http';
import { HeaderMap, type ApolloServer, type HTTPGraphQLResponse } from '@apollo/server';
import type { ApiContext } from '../context.ts';
import type { CorsHandler } from '../cors.ts';
import { readBody } from './request-body.ts';
import { sendError } from './respond.ts';
import type { Handler } from './router.ts';

export interface GraphqlRouteDeps {
  apollo: ApolloServer<ApiContext>;
  maxBodyBytes: number;
  /** Named in the too-large message: what a body that size mostly is. */
  maxImageBytes: number;
  cors: CorsHandler;
  /** The per-request context the resolvers receive. */
  context(req: http.IncomingMessage, signal: AbortSignal): ApiContext;
  playground: Handler;
}

export function graphqlRoute(deps: GraphqlRouteDeps): Handler {
  return async (ctx) => {
    const { req, res, url } = ctx;
    // Only the API crosses origins; pages, media and metrics stay same-origin.
    if (deps.cors(req, res) === 'answered') return;
    const accept = req.headers.accept ?? '';
    if (req.method === 'GET' && !url.searchParams.has('query') && accept.includes('text/html')) {
      return deps.playground(ctx);
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('allow', 'GET, POST');
      return sendError(res, 'METHOD_NOT_ALLOWED', 'Use GET or POST');
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const body =
      req.method === 'POST'
        ? await readJsonOrText(req, deps.maxBodyBytes, deps.maxImageBytes, headers)
        : undefined;
    if (body === INVALID_JSON) return sendError(res, 'BAD_REQUEST', 'The request body is not valid JSON');
    const result = await deps.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method, headers, search: url.search, body },
      context: async () => deps.context(req, ctx.signal),
    });
    // Timed out meanwhile: the server has answered TIMEOUT already.
    if (ctx.signal.aborted || res.headersSent) return;
    await writeResponse(res, result);
  };
}

const INVALID_JSON = Symbol('invalid JSON');

async function readJsonOrText(
  req: http.IncomingMessage,
  maxBytes: number,
  maxImageBytes: number,
  headers: HeaderMap,
): Promise<unknown> {
  const raw = await readBody(req, maxBytes, maxImageBytes);
  if (!(headers.get('content-type') ?? '').includes('json')) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return INVALID_JSON;
  }
}

async function writeResponse(res: http.ServerResponse, result: HTTPGraphQLResponse): Promise<void> {
  res.statusCode = result.status ?? 200;
  for (const [key, value] of result.headers) res.setHeader(key, value);
  if (result.body.kind === 'complete') return void res.end(result.body.string);
  for await (const chunk of result.body.asyncIterator) res.write(chunk);
  res.end();
}
