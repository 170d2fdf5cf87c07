/**
 * The one table from an error code to an HTTP status, used by the plain routes (every error) and by
 * GraphQL (only codes that fail the whole request: a client or a load balancer must see an outage
 * or a timeout without reading the body; a resolver's INVALID_INPUT stays a 200 beside its data).
 */
import type { ErrorCode } from '../errors.ts';

/** Codes the HTTP layer raises itself, beside the AppError codes. */
export type HttpOnlyCode = 'BAD_REQUEST' | 'METHOD_NOT_ALLOWED' | 'INTERNAL_SERVER_ERROR';

interface StatusRule {
  status: number;
  /** The whole GraphQL request failed: its answer carries this status too. */
  wholeRequest?: true;
}

const STATUS_BY_CODE: Readonly<Partial<Record<ErrorCode | HttpOnlyCode, StatusRule>>> = {
  BAD_REQUEST: { status: 400 },
  METHOD_NOT_ALLOWED: { status: 405 },
  INTERNAL_SERVER_ERROR: { status: 500 },
  INVALID_INPUT: { status: 400 },
  // Uploaded bytes that do not decode; on a plain route (a thumbnail) a stored original that does not.
  INVALID_IMAGE: { status: 422 },
  LIMIT_EXCEEDED: { status: 413 },
  NOT_FOUND: { status: 404 },
  FORBIDDEN: { status: 403 },
  UNAUTHENTICATED: { status: 401 },
  TIMEOUT: { status: 503, wholeRequest: true },
  CANCELLED: { status: 499 },
  IDEMPOTENCY_KEY_REUSED: { status: 422, wholeRequest: true },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, wholeRequest: true },
  IDEMPOTENCY_ANSWER_LOST: { status: 409, wholeRequest: true },
  DB_UNAVAILABLE: { status: 503, wholeRequest: true },
};

/** The status of a plain route's error; an AppError code without an entry is the client's (400). */
export function httpStatus(code: string): number {
  return STATUS_BY_CODE[code as ErrorCode]?.status ?? 400;
}

/** The status a GraphQL answer takes for this error code, or undefined to keep Apollo's. */
export function graphqlStatus(code: string): number | undefined {
  const rule = STATUS_BY_CODE[code as ErrorCode];
  return rule?.wholeRequest ? rule.status : undefined;
}
