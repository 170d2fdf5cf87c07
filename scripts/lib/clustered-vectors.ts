import { createRng, deriveSeed } from '../../src/train/rng.ts';

/**
 * Unit vectors around `clusters` random centres: normalise(centre + noise). Embeddings cluster by
 * topic, and uniform random vectors would make every ANN index look better than it is. The same
 * seed and stream give the same vectors, so benches compare backends on identical data.
 */
export function clustered(
  n: number,
  dims: number,
  clusters: number,
  seed: number,
  stream: string,
): Float32Array {
  const centres = new Float32Array(clusters * dims);
  const c = createRng(deriveSeed(seed, 'centres'));
  for (let i = 0; i < centres.length; i++) centres[i] = c.normal();
  normalise(centres, dims);
  const rng = createRng(deriveSeed(seed, stream));
  const sigma = 1 / Math.sqrt(dims);
  const out = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) {
    const centre = rng.int(clusters);
    for (let d = 0; d < dims; d++) out[i * dims + d] = centres[centre * dims + d]! + sigma * rng.normal();
  }
  normalise(out, dims);
  return out;
}

/** The flags of a bench over clustered vectors that say what it searches, as commander parses them. */
export interface ClusteredWorkload {
  n: number;
  dims: number;
  queries: number;
  clusters: number;
  seed: number;
}

/** The indexed vectors and the queries: two streams around the same centres, so no query is in the index. */
export function clusteredWorkload(o: ClusteredWorkload): { data: Float32Array; queries: Float32Array } {
  return {
    data: clustered(o.n, o.dims, o.clusters, o.seed, 'data'),
    queries: clustered(o.queries, o.dims, o.clusters, o.seed, 'queries'),
  };
}

/** Scales each `dims`-long row to unit length in place (an all-zero row stays zero). */
export function normalise(rows: Float32Array, dims: number): void {
  for (let i = 0; i < rows.length / dims; i++) {
    let norm = 0;
    for (let d = 0; d < dims; d++) norm += rows[i * dims + d]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let d = 0; d < dims; d++) rows[i * dims + d] = rows[i * dims + d]! / norm;
  }
}
