import { createRng } from '../../src/train/rng.ts';

/** `n` seeded random unit vectors, row-major. */
export function unitVectors(n: number, dims: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dims; d++) {
      const v = rng.normal();
      out[i * dims + d] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let d = 0; d < dims; d++) out[i * dims + d] = (out[i * dims + d] as number) / norm;
  }
  return out;
}

export function row(vectors: Float32Array, i: number, dims: number): Float32Array {
  return vectors.slice(i * dims, (i + 1) * dims);
}

export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}
