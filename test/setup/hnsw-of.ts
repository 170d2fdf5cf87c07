import type { IndexSet } from '../../src/store/vector/index-set.ts';
import type { VectorBackend } from '../../src/store/vector/types.ts';

/** The HNSW index set behind a backend, for tests that look inside the graphs (VECTOR_BACKEND=hnsw). */
export function hnswOf(backend: VectorBackend): IndexSet {
  if (backend.name !== 'hnsw') throw new Error(`expected the hnsw vector backend, got ${backend.name}`);
  return backend as IndexSet;
}
