/**
 * Idempotent mutations: a mutation sent with an `Idempotency-Key` header is claimed in Postgres
 * before it runs, marked committed inside its own write transaction, and completed with its answer
 * after; a repeat (same credential, operation and key) gets that first answer back and writes
 * nothing. The same key with another request is a client error (422), and a repeat while the
 * first still runs is told to wait (409). A process that died between its COMMIT and storing the
 * answer leaves a committed claim: a retry is told the answer was lost (409) and never runs again.
 *
 * An answer is kept unless the request wrote nothing and failed as a whole or was interrupted (a
 * timeout, a client that hung up, a database outage): then the claim is released and a retry runs
 * afresh. Requests are aborted before they commit (the request's AbortSignal), so a released claim
 * wrote nothing.
 */
import { createHash } from 'node:crypto';
import { HeaderMap, type ApolloServerPlugin, type GraphQLResponse } from '@apollo/server';
import type { FormattedExecutionResult } from 'graphql';
import { isAppError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Queryable } from '../store/db.ts';
import { IdempotencyRepository } from '../store/idempotency.repository.ts';
import { graphqlStatus } from './error-status.ts';
import { fragmentsOf, rootFields } from './operation-fields.ts';

export interface IdempotencyOptions {
  store: Pick<IdempotencyRepository, 'claim' | 'find' | 'complete' | 'release' | 'prune'>;
  logger: Logger;
  /** How long answers are kept. */
  retentionMs: number;
  /**
   * After this, a claim whose request never finished (its process died) may be taken over. Longer
   * than any request runs: after its timeout a request can no longer commit.
   */
  pendingStaleMs: number;
}

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Set on a replayed answer. */
export const REPLAYED_HEADER = 'idempotent-replayed';

/** What the plugin sets on the request's context for the writers (src/api/context.ts). */
export interface CommitHook {
  /** Runs last inside each write transaction of the request. */
  beforeCommit?: (tx: Queryable) => Promise<void>;
}

export function idempotencyPlugin<T extends CommitHook>(options: IdempotencyOptions): ApolloServerPlugin<T> {
  const { store, logger } = options;
  const stale = {
    completedSeconds: options.retentionMs / 1000,
    pendingSeconds: options.pendingStaleMs / 1000,
  };
  let lastPrune = 0;
  const prune = () => {
    // Expired rows are taken over by a new claim anyway; pruning keeps unused keys from piling up.
    if (Date.now() - lastPrune < 60_000) return;
    lastPrune = Date.now();
    store
      .prune(stale.completedSeconds)
      .catch((err: unknown) => logger.warn({ err }, 'idempotency prune failed'));
  };

  return {
    requestDidStart: async ({ request, contextValue }) => {
      const key = request.http?.headers.get(IDEMPOTENCY_HEADER);
      if (key === undefined) return {};
      let claim: { scope: string; hash: string } | undefined;
      return {
        responseForOperation: async ({ operation, document, source, operationName }) => {
          if (operation.operation !== 'mutation') return null;
          if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
            return errorResponse(
              'INVALID_INPUT',
              'Idempotency-Key must be 1..255 printable ASCII characters',
            );
          }
          const fields = rootFields(operation, fragmentsOf(document.definitions)).map((f) => f.name.value);
          const scope = `${sha256(request.http?.headers.get('authorization') ?? '').slice(0, 32)}/${[...new Set(fields)].sort().join(',')}`;
          const hash = sha256(canonicalJson({ source, operationName, variables: request.variables ?? {} }));
          let found: Awaited<ReturnType<typeof store.find>>;
          try {
            if (await store.claim(scope, key, hash, stale)) {
              claim = { scope, hash };
              contextValue.beforeCommit = (tx) =>
                new IdempotencyRepository(tx).markCommitted(scope, key, hash);
              prune();
              return null;
            }
            found = await store.find(scope, key, stale.pendingSeconds);
          } catch (error) {
            // The database is out (DB_UNAVAILABLE, 503): the mutation could not run either.
            if (isAppError(error)) return errorResponse(error.code, error.message);
            throw error;
          }
          if (found && found.requestHash !== hash) {
            return errorResponse(
              'IDEMPOTENCY_KEY_REUSED',
              'This Idempotency-Key was used for a different request; use a new key for a new request',
            );
          }
          if (found && !found.answer && found.committed && found.stale) {
            return errorResponse(
              'IDEMPOTENCY_ANSWER_LOST',
              'The first request with this Idempotency-Key committed its changes, but the server stopped before ' +
                'storing its answer. The changes are in place (query them); they will not be made again',
            );
          }
          if (!found?.answer) {
            return errorResponse(
              'IDEMPOTENCY_KEY_IN_USE',
              'A request with this Idempotency-Key is still running; retry once it has finished',
            );
          }
          return {
            http: { status: found.answer.status, headers: new HeaderMap([[REPLAYED_HEADER, 'true']]) },
            body: { kind: 'single', singleResult: found.answer.body as FormattedExecutionResult },
          };
        },
        willSendResponse: async ({ response }) => {
          if (!claim) return;
          const { scope, hash } = claim;
          claim = undefined;
          try {
            const answer = answerOf(response);
            // A claim whose request committed cannot be released: then its answer is kept too.
            const released = (answer?.retryable ?? true) && (await store.release(scope, key, hash));
            if (answer && !released) await store.complete(scope, key, hash, answer.status, answer.body);
          } catch (err) {
            // The claim stays pending: retries get 409 until it goes stale, never a second write.
            logger.error({ err, key }, 'could not record the answer of an idempotent mutation');
          }
        },
      };
    },
  };
}

const INTERRUPTED: ReadonlySet<string> = new Set<ErrorCode>(['CANCELLED', 'TIMEOUT', 'DB_UNAVAILABLE']);

/**
 * The answer to keep for retries. `retryable`: by its answer the request wrote nothing and may run
 * again (the database has the last word: see `release`).
 */
function answerOf(
  response: GraphQLResponse,
): { status: number; body: unknown; retryable: boolean } | undefined {
  if (response.body.kind !== 'single') return undefined;
  const result = response.body.singleResult;
  const status = response.http.status ?? 200;
  const wroteSomething = Object.values(result.data ?? {}).some((v) => v !== null);
  // A field that was cut short (the client hung up, the deadline, the database) rolled back: with
  // nothing written, the retry must run afresh rather than replay the interruption.
  const interrupted = (result.errors ?? []).some((e) =>
    INTERRUPTED.has(String(e.extensions?.['code'] ?? '')),
  );
  return { status, body: result, retryable: (status >= 500 || interrupted) && !wroteSomething };
}

function errorResponse(code: ErrorCode, message: string): GraphQLResponse {
  return {
    http: { status: graphqlStatus(code) ?? 400, headers: new HeaderMap() },
    body: { kind: 'single', singleResult: { errors: [{ message, extensions: { code } }] } },
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` variables are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
