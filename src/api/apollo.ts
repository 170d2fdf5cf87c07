/**
 * The Apollo Server: schema.graphql + resolvers, our error formatting, limits and metrics, CSRF
 * prevention on, and no landing page (Apollo's loads from a CDN; we serve our own playground).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { ApiContext } from './context.ts';
import { createFormatError } from './format-error.ts';
import { errorStatusPlugin } from './status-plugin.ts';
import { idempotencyPlugin, type IdempotencyOptions } from './idempotency.ts';
import { supportedOperationTypes } from './operation-types.ts';
import { metricsPlugin, type ApiMetrics } from './metrics.ts';
import { queryLimitsPlugin } from './query-limits.ts';
import { resolvers } from './resolvers.ts';

export const SCHEMA_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schema.graphql');

export async function createApollo(
  config: Readonly<Config>,
  logger: Logger,
  metrics: ApiMetrics,
  /** Where mutations' Idempotency-Key answers are kept; none: the header is ignored. */
  idempotencyKeys?: IdempotencyOptions['store'],
): Promise<ApolloServer<ApiContext>> {
  const production = config.server.production;
  const apollo = new ApolloServer<ApiContext>({
    typeDefs: readFileSync(SCHEMA_PATH, 'utf8'),
    resolvers,
    csrfPrevention: true,
    introspection: true,
    includeStacktraceInErrorResponses: !production,
    // main.ts owns shutdown (drain HTTP, then save the index); Apollo's own handler would race it.
    stopOnTerminationSignals: false,
    formatError: createFormatError(logger, production),
    validationRules: [supportedOperationTypes],
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // Results are per-query and never HTTP-cached; the cache-control plugin would walk every field.
      ApolloServerPluginCacheControlDisabled(),
      queryLimitsPlugin({
        maxDepth: config.limits.maxQueryDepth,
        maxComplexity: config.limits.maxQueryComplexity,
        maxQueryText: config.limits.maxQueryText,
        maxRootFields: config.limits.maxRootFields,
      }),
      metricsPlugin(metrics),
      errorStatusPlugin(),
      // After errorStatusPlugin: it reads the final status of the answer it keeps.
      ...(idempotencyKeys
        ? [
            idempotencyPlugin<ApiContext>({
              store: idempotencyKeys,
              logger,
              retentionMs: config.limits.idempotencyRetentionMs,
              pendingStaleMs: config.limits.requestTimeoutMs + 60_000,
            }),
          ]
        : []),
    ],
    logger: {
      debug: (m) => logger.debug(m),
      info: (m) => logger.info(m),
      warn: (m) => logger.warn(m),
      error: (m) => logger.error(m),
    },
  });
  await apollo.start();
  return apollo;
}
