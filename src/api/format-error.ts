/**
 * The one place errors become GraphQL errors. AppErrors keep their stable code and message; errors
 * GraphQL itself raised (syntax, validation, bad variables) keep Apollo's codes; anything else is an
 * internal error: logged with its detail, answered with a generic message.
 */
import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export function createFormatError(logger: Logger, production: boolean) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = appErrorBehind(unwrapResolverError(error));
    if (original instanceof AppError) {
      return {
        message: original.message,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: {
          code: original.code,
          ...(original.details && !production ? { details: original.details } : {}),
        },
      };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
      if (!production) return formatted;
      const { stacktrace: _drop, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    if (code === 'INTERNAL_SERVER_ERROR' && clientStatus(error)) {
      // Apollo refuses some requests (persisted-query hash mismatch, unknown version) with an HTTP
      // 4xx and no code: the client's fault, so a stable client code rather than an internal one.
      return {
        message: formatted.message,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        extensions: { code: 'BAD_REQUEST' },
      };
    }
    logger.error({ err: original, path: formatted.path }, 'internal error while resolving a GraphQL request');
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

/**
 * An AppError thrown while coercing input (a scalar's parseValue, a variable) reaches us wrapped in
 * GraphQL's and Apollo's errors without a path, which unwrapResolverError leaves alone. Followed by
 * `originalError`, not `instanceof GraphQLError`: Apollo loads graphql's CommonJS build, we its ESM.
 */
function appErrorBehind(error: unknown): unknown {
  let current: unknown = error;
  for (let hops = 0; hops < 4 && typeof current === 'object' && current !== null; hops++) {
    if (current instanceof AppError) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return error;
}

/** The HTTP status Apollo attached to an error it raised, when that is a 4xx. */
function clientStatus(error: unknown): boolean {
  const http = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http;
  return typeof http?.status === 'number' && http.status >= 400 && http.status < 500;
}
