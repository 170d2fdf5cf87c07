/**
 * Prometheus metrics on a registry of our own (several servers can live in one process in tests):
 * GraphQL latency per operation, HTTP latency per route, encoder batch sizes, index sizes.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AppError } from '../errors.ts';
import type { CheckpointStatus } from '../store/vector/index.ts';
import { fragmentsOf, rootFields } from './operation-fields.ts';

export interface ApiMetrics {
  registry: Registry;
  operationSeconds: Histogram<'operation' | 'outcome'>;
  httpSeconds: Histogram<'route' | 'status'>;
  encoderBatchSize: Histogram<'kind'>;
  errors: Counter<'code'>;
  /** Called by the engine for every encoder call a query makes. */
  observeEncode(kind: 'text' | 'image', batchSize: number): void;
  /** Called by the engine with the path that answered each search (hnsw, exact, hnsw-filtered, ...). */
  observeRetrieve(info: { kind: string; strategy: string }): void;
}

export function createMetrics(
  indexSizes: () => Record<'image' | 'caption', number>,
  checkpointStatus?: () => Readonly<CheckpointStatus> | undefined,
): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const operationSeconds = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'GraphQL operation latency by root field (or multiple, introspection, other)',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const httpSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP latency by route',
    labelNames: ['route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const encoderBatchSize = new Histogram({
    name: 'encoder_batch_size',
    help: 'Inputs per encoder call made by queries',
    labelNames: ['kind'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'graphql_errors_total',
    help: 'GraphQL errors by extensions.code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'index_vectors',
    help: 'Live vectors per index',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const sizes = indexSizes();
      this.set({ kind: 'image' }, sizes.image);
      this.set({ kind: 'caption' }, sizes.caption);
    },
  });
  // Both labels are closed sets (two targets, a handful of paths): how often filters fall back to
  // exact scoring or a filtered graph walk is what tells an operator to tune EXACT_SEARCH_THRESHOLD.
  const retrievals = new Counter({
    name: 'search_retrievals_total',
    help: 'Searches by target and the path that answered them (hnsw, exact, hnsw-filtered, pgvector, ...)',
    labelNames: ['target', 'strategy'] as const,
    registers: [registry],
  });
  if (checkpointStatus) registerCheckpointMetrics(registry, checkpointStatus);
  return {
    registry,
    operationSeconds,
    httpSeconds,
    encoderBatchSize,
    errors,
    observeEncode: (kind, n) => encoderBatchSize.observe({ kind }, n),
    observeRetrieve: ({ kind, strategy }) => retrievals.inc({ target: kind, strategy }),
  };
}

/** Failed checkpoints leave new vectors only in Postgres: alert on the consecutive count. */
function registerCheckpointMetrics(
  registry: Registry,
  status: () => Readonly<CheckpointStatus> | undefined,
): void {
  let counted = 0;
  new Counter({
    name: 'index_checkpoint_failures_total',
    help: 'Index checkpoints that failed (nothing committed; the previous generation stays)',
    registers: [registry],
    collect() {
      const total = status()?.failuresTotal ?? counted;
      if (total > counted) this.inc(total - counted);
      counted = total;
    },
  });
  new Gauge({
    name: 'index_checkpoint_consecutive_failures',
    help: 'Index checkpoints failed since the last one that committed',
    registers: [registry],
    collect() {
      this.set(status()?.consecutiveFailures ?? 0);
    },
  });
  new Gauge({
    name: 'index_checkpoint_last_success_timestamp_seconds',
    help: 'When an index checkpoint last committed (0: not since start)',
    registers: [registry],
    collect() {
      const at = status()?.lastSuccessAt;
      this.set(at ? Date.parse(at) / 1000 : 0);
    },
  });
}

/**
 * The `operation` label: the one root field an operation selects (`searchImages`), `multiple`
 * for several, `introspection` for `__schema`/`__type`/`__typename`, `other` for anything else.
 * A fixed set on purpose: a label built from the aliases' field names (the sorted multiset) let
 * 30 requests of 20,000 aliases grow /metrics to 92.8 MB.
 */
export function operationLabel(
  operation: OperationDefinitionNode | undefined,
  document: DocumentNode,
  schema: GraphQLSchema,
): string {
  if (!operation) return 'unknown';
  const known = schema.getRootType(operation.operation)?.getFields() ?? {};
  const names = new Set(
    rootFields(operation, fragmentsOf(document.definitions)).map((field) => {
      const name = field.name.value;
      if (name.startsWith('__')) return 'introspection';
      return Object.hasOwn(known, name) ? name : 'other';
    }),
  );
  if (names.size === 0) return 'other';
  return names.size === 1 ? [...names][0]! : 'multiple';
}

/** Times each operation, labelled by `operationLabel`. */
export function metricsPlugin<C extends object>(metrics: ApiMetrics): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      const start = process.hrtime.bigint();
      let operation = 'unknown';
      return {
        async didResolveOperation({ operation: op, document, schema }) {
          operation = operationLabel(op, document, schema);
        },
        async didEncounterErrors({ errors }) {
          for (const e of errors) {
            const original = unwrapResolverError(e);
            const code = original instanceof AppError ? original.code : e.extensions?.code;
            metrics.errors.inc({ code: String(code ?? 'INTERNAL_SERVER_ERROR') });
          }
        },
        async willSendResponse({ errors }) {
          const seconds = Number(process.hrtime.bigint() - start) / 1e9;
          metrics.operationSeconds.observe({ operation, outcome: errors?.length ? 'error' : 'ok' }, seconds);
        },
      };
    },
  };
}
