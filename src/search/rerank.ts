/**
 * Stage 3 (optional): hybrid fusion of keyword and vector rankings, and near-duplicate collapsing.
 * Both are deterministic functions of the ranked prefix, so paging over them stays stable.
 */
import { compareRanked } from './cursor.ts';
import type { ScoredId } from './types.ts';

/**
 * Reciprocal rank fusion: score(id) = sum over lists of weight / (k + rank), rank starting at 1.
 * Ids missing from a list get nothing from it.
 */
export function fuseRrf(lists: readonly { ids: readonly number[]; weight: number }[], k: number): ScoredId[] {
  const scores = new Map<number, number>();
  for (const { ids, weight } of lists) {
    ids.forEach((id, index) => scores.set(id, (scores.get(id) ?? 0) + weight / (k + index + 1)));
  }
  return [...scores].map(([id, score]) => ({ id, score })).sort(compareRanked);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

/** Keeps a hit only when no better-ranked kept hit is at least `threshold` similar to it. */
export async function collapseDuplicates(
  ranked: readonly ScoredId[],
  threshold: number,
  getVectors: (ids: number[]) => Promise<Map<number, Float32Array>>,
): Promise<ScoredId[]> {
  if (ranked.length < 2) return ranked.slice();
  const vectors = await getVectors(ranked.map((r) => r.id));
  const kept: { hit: ScoredId; vector: Float32Array | undefined }[] = [];
  for (const hit of ranked) {
    const vector = vectors.get(hit.id);
    const duplicate =
      vector !== undefined &&
      kept.some((k) => k.vector !== undefined && cosine(k.vector, vector) >= threshold);
    if (!duplicate) kept.push({ hit, vector });
  }
  return kept.map((k) => k.hit);
}
