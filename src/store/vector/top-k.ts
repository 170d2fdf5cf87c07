import type { SearchHit } from './types.ts';

/**
 * Keeps the best `k` (score, id) pairs seen so far in a binary min-heap, so a scan over n vectors
 * costs O(n log k) and allocates nothing per candidate.
 */
export class TopK {
  private readonly scores: Float64Array;
  private readonly ids: Float64Array;
  private length = 0;

  constructor(readonly k: number) {
    this.scores = new Float64Array(Math.max(1, k));
    this.ids = new Float64Array(Math.max(1, k));
  }

  /** The score a candidate must beat to enter (−∞ until full). */
  get threshold(): number {
    return this.length < this.k ? Number.NEGATIVE_INFINITY : (this.scores[0] as number);
  }

  push(id: number, score: number): void {
    if (this.k === 0) return;
    if (this.length < this.k) {
      let i = this.length++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(score, id, this.scores[parent] as number, this.ids[parent] as number)) break;
        this.scores[i] = this.scores[parent] as number;
        this.ids[i] = this.ids[parent] as number;
        i = parent;
      }
      this.scores[i] = score;
      this.ids[i] = id;
      return;
    }
    if (!worse(this.scores[0] as number, this.ids[0] as number, score, id)) return;
    // Replace the root (the worst kept) and sift down.
    let i = 0;
    const n = this.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (
        r < n &&
        worse(
          this.scores[r] as number,
          this.ids[r] as number,
          this.scores[l] as number,
          this.ids[l] as number,
        )
      )
        c = r;
      if (!worse(this.scores[c] as number, this.ids[c] as number, score, id)) break;
      this.scores[i] = this.scores[c] as number;
      this.ids[i] = this.ids[c] as number;
      i = c;
    }
    this.scores[i] = score;
    this.ids[i] = id;
  }

  /** Best first: score descending, ties by id ascending (deterministic across implementations). */
  result(): SearchHit[] {
    const hits: SearchHit[] = [];
    for (let i = 0; i < this.length; i++)
      hits.push({ id: this.ids[i] as number, score: this.scores[i] as number });
    return sortHits(hits);
  }
}

/** `a` ranks below `b`: lower score, or equal score and larger id. */
function worse(aScore: number, aId: number, bScore: number, bId: number): boolean {
  return aScore < bScore || (aScore === bScore && aId > bId);
}

export function sortHits(hits: SearchHit[]): SearchHit[] {
  return hits.sort((a, b) => b.score - a.score || a.id - b.id);
}

/** Inner product of `query` with row `row` of the row-major `data`. */
export function dotRow(query: Float32Array, data: Float32Array, row: number, dims: number): number {
  const base = row * dims;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 3 < dims; d += 4) {
    s0 += (query[d] as number) * (data[base + d] as number);
    s1 += (query[d + 1] as number) * (data[base + d + 1] as number);
    s2 += (query[d + 2] as number) * (data[base + d + 2] as number);
    s3 += (query[d + 3] as number) * (data[base + d + 3] as number);
  }
  for (; d < dims; d++) s0 += (query[d] as number) * (data[base + d] as number);
  return s0 + s1 + s2 + s3;
}
