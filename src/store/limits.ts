import { AppError } from '../errors.ts';

/** Upper bound on one id batch or page: large enough for reconcile scans, small enough for one query. */
export const MAX_BATCH = 100_000;

export function checkIds(ids: readonly unknown[]): void {
  if (ids.length > MAX_BATCH) {
    throw new AppError('LIMIT_EXCEEDED', `At most ${MAX_BATCH} ids per query, got ${ids.length}`);
  }
}

export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_BATCH) {
    throw new AppError('LIMIT_EXCEEDED', `A page size must be an integer in 0..${MAX_BATCH}, got ${limit}`);
  }
}
