/**
 * A tiny router in hono's shape: routes are data (a name for metrics, the methods, a path or a
 * pattern, a handler); the first match wins. Adding a route is one `add` call in routes.ts.
 */
import type http from 'node:http';

export interface RequestContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  /** What the route's pattern captured, in order. */
  params: readonly string[];
  /** Aborted when the request times out or the client goes away; its reason is an AppError. */
  signal: AbortSignal;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

export interface Route {
  /** The `route` label in metrics (a fixed set: never taken from the URL). */
  name: string;
  /** The methods it answers (HEAD comes with GET); others get 405. `*`: the handler decides. */
  methods: readonly string[] | '*';
  /** An exact path, or a pattern whose groups become `params`. */
  path: string | RegExp;
  handler: Handler;
}

export interface Match {
  route: Route;
  params: string[];
  /** The method is not one the route answers: the caller sends 405 with `allow`. */
  methodAllowed: boolean;
}

export class Router {
  private readonly routes: Route[] = [];

  add(route: Route): this {
    this.routes.push(route);
    return this;
  }

  match(method: string, path: string): Match | undefined {
    for (const route of this.routes) {
      const params = matchPath(route.path, path);
      if (!params) continue;
      return { route, params, methodAllowed: allows(route.methods, method) };
    }
    return undefined;
  }
}

/** The value of an `allow` header for a route. */
export function allowHeader(route: Route): string {
  if (route.methods === '*') return '';
  return [...route.methods, ...(route.methods.includes('GET') ? ['HEAD'] : [])].join(', ');
}

function matchPath(pattern: string | RegExp, path: string): string[] | undefined {
  if (typeof pattern === 'string') return pattern === path ? [] : undefined;
  const m = pattern.exec(path);
  return m ? m.slice(1).map((p) => p ?? '') : undefined;
}

function allows(methods: Route['methods'], method: string): boolean {
  if (methods === '*') return true;
  return methods.includes(method) || (method === 'HEAD' && methods.includes('GET'));
}
