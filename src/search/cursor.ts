/**
 * Cursors for ranked results. A cursor names the last edge a client saw by (score, id) and its
 * rank, plus a hash of the query it belongs to. The next page ranks the same fixed window again
 * and cuts right after the cursor's item, or, when that item is gone, strictly after its
 * (score, id) in (score desc, id asc) order, so pages never repeat an item even when the index
 * changed in between. Scores are float32 values everywhere (the engine rounds them, and so does
 * `decodeCursor`).
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { ScoredId } from './types.ts';

export interface Cursor {
  /** Query hash (shortened). */
  q: string;
  score: number;
  id: number;
  /** How many edges came before and including this one (informational: paging cuts by score, id). */
  offset: number;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.q, cursor.score, cursor.id, cursor.offset])).toString(
    'base64url',
  );
}

export function decodeCursor(raw: string, queryHash: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 4 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'number' ||
    !Number.isFinite(parsed[1]) ||
    !Number.isSafeInteger(parsed[2]) ||
    !Number.isSafeInteger(parsed[3]) ||
    (parsed[3] as number) < 1
  ) {
    throw new AppError('INVALID_INPUT', 'Malformed cursor: pass an endCursor returned by this API');
  }
  if (parsed[0] !== queryHash) {
    throw new AppError(
      'INVALID_INPUT',
      'This cursor belongs to a different query (query, filter or options changed)',
    );
  }
  return {
    q: parsed[0],
    score: Math.fround(parsed[1]),
    id: parsed[2] as number,
    offset: parsed[3] as number,
  };
}

/** A stable short hash of anything JSON-like, independent of key order. */
export function hashQuery(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The ranking order every stage agrees on: score descending, then id ascending. */
export function compareRanked(a: ScoredId, b: ScoredId): number {
  return b.score - a.score || a.id - b.id;
}

/**
 * Items after the cursor in ranking order. When the cursor's item is still ranked, the cut is by
 * its position: the exact path (float64 dot product) and hnswlib (float32 SIMD sum) score one
 * vector up to a float32 ulp apart, so a filter crossing the exact threshold between pages would
 * otherwise repeat the cursor's item, or skip an identical twin (two captions with the same text).
 * Only when the item is gone (deleted) does (score, id) decide.
 */
export function afterCursor(ranked: readonly ScoredId[], cursor: Cursor | undefined): ScoredId[] {
  if (!cursor) return ranked.slice();
  const at = ranked.findIndex((r) => r.id === cursor.id);
  if (at >= 0) return ranked.slice(at + 1);
  return ranked.filter((r) => r.score < cursor.score || (r.score === cursor.score && r.id > cursor.id));
}

/**
 * A cosine as clients see it. Float32 sums of unit vectors land a ulp outside [-1, 1] (1.0000001
 * for an image against itself). Applied only where scores leave the engine (edges): ranking and
 * cursors keep the raw float32 score (Math.fround) that paging compares against.
 */
export function clampCosine(score: number): number {
  return Math.fround(Math.min(1, Math.max(-1, score)));
}
