/**
 * Issue 13, items 1 and 14: one table from error code to HTTP status, and every code the code base
 * reports is an ErrorCode (an ingest item's unexpected failure is INTERNAL, a real code).
 */
import { describe, expect, it } from 'vitest';
import { graphqlStatus, httpStatus } from '../../src/api/error-status.ts';
import { ERROR_CODES } from '../../src/errors.ts';
import { failure } from '../../src/ingest/items.ts';
import { AppError } from '../../src/errors.ts';

describe('the one code-to-status table', () => {
  it('gives plain routes a status for every code, and GraphQL only for whole-request failures', () => {
    const plain = Object.fromEntries(
      [
        'INVALID_INPUT',
        'LIMIT_EXCEEDED',
        'NOT_FOUND',
        'UNAUTHENTICATED',
        'FORBIDDEN',
        'TIMEOUT',
        'DB_UNAVAILABLE',
        'INVALID_IMAGE',
      ].map((c) => [c, httpStatus(c)]),
    );
    expect(plain).toEqual({
      INVALID_INPUT: 400,
      LIMIT_EXCEEDED: 413,
      NOT_FOUND: 404,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      TIMEOUT: 503,
      DB_UNAVAILABLE: 503,
      INVALID_IMAGE: 422,
    });
    const wholeRequest = ERROR_CODES.filter((c) => graphqlStatus(c) !== undefined);
    expect(Object.fromEntries(wholeRequest.map((c) => [c, graphqlStatus(c)]))).toEqual({
      DB_UNAVAILABLE: 503,
      TIMEOUT: 503,
      IDEMPOTENCY_KEY_REUSED: 422,
      IDEMPOTENCY_KEY_IN_USE: 409,
      IDEMPOTENCY_ANSWER_LOST: 409,
    });
  });
});

describe('ingest failure codes (item 14)', () => {
  it('an unexpected error is grouped under INTERNAL, which is an ErrorCode', () => {
    expect(failure('item-1', new Error('boom'))).toEqual({ key: 'item-1', failed: 'boom', code: 'INTERNAL' });
    expect(ERROR_CODES).toContain('INTERNAL');
    expect(failure('item-2', new AppError('INVALID_IMAGE', 'bad bytes'))).toEqual({
      key: 'item-2',
      failed: 'INVALID_IMAGE: bad bytes',
      code: 'INVALID_IMAGE',
    });
  });
});
