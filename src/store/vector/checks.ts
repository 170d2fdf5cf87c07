import { AppError } from '../../errors.ts';

const MAX_ID = 0xffff_ffff;

/** Ids become hnswlib labels (uint32); anything else would be silently truncated there. */
export function checkIds(ids: readonly number[]): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_ID) {
      throw new AppError('INVALID_INPUT', `Vector id ${id} is not an integer in [0, ${MAX_ID}]`);
    }
  }
}

export function checkRows(ids: readonly number[], vectors: Float32Array, dims: number): void {
  checkIds(ids);
  if (vectors.length !== ids.length * dims) {
    throw new AppError(
      'INVALID_INPUT',
      `Expected ${ids.length} vectors of ${dims} dims (${ids.length * dims} floats), got ${vectors.length} floats`,
    );
  }
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i])) {
      throw new AppError(
        'INVALID_INPUT',
        `Vector for id ${ids[Math.floor(i / dims)]} has a non-finite value`,
      );
    }
  }
}

export function checkQuery(query: Float32Array, dims: number, k: number): void {
  if (query.length !== dims) {
    throw new AppError('INVALID_INPUT', `Query has ${query.length} dims, the index has ${dims}`);
  }
  if (!Number.isInteger(k) || k < 0)
    throw new AppError('INVALID_INPUT', `k must be a non-negative integer, got ${k}`);
}

export function allows(
  filter: ReadonlySet<number> | ((id: number) => boolean) | undefined,
  id: number,
): boolean {
  if (filter === undefined) return true;
  return typeof filter === 'function' ? filter(id) : filter.has(id);
}
