/**
 * Stage 3 (optional): hybrid fusion of keyword and vector scores, and near-duplicate collapsing.
 * Both are deterministic functions of the ranked window, so paging over them stays stable.
 */
import { compareRanked } from './cursor.ts';
import type { ScoredId } from './types.ts';

/**
 * Hybrid score: cosine + keywordWeight * keywordScore, rounded to float32 like every other score.
 * Each term reads only the item and the query (the keyword score is 0 for a non-match), so a write
 * never moves an item it did not touch. Reciprocal rank fusion, used before, scored items by their
 * ranks, which every add or delete above them shifted, so hybrid pages skipped or repeated items
 * when the collection changed between pages (issue 9, item 2). Candidates without a cosine (no
 * vector for this model) cannot be scored and are left out.
 */
export function fuseScores(
  cosines: ReadonlyMap<number, number>,
  keywordScores: ReadonlyMap<number, number>,
  keywordWeight: number,
): ScoredId[] {
  return [...cosines]
    .map(([id, cosine]) => ({
      id,
      score: Math.fround(Math.fround(cosine) + keywordWeight * Math.fround(keywordScores.get(id) ?? 0)),
    }))
    .sort(compareRanked);
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
