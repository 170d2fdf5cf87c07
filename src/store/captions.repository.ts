import { AppError } from '../errors.ts';
import type { Queryable } from './db.ts';
import {
  CAPTION_ROWS,
  filteredAmong,
  filteredIds,
  imageFilterSql,
  type ImageFilter,
} from './image-filter.ts';
import { checkIds, checkLimit } from './limits.ts';

export interface CaptionRecord {
  id: number;
  imageId: number;
  text: string;
  createdAt: Date;
}

interface CaptionRow {
  id: number;
  image_id: number;
  text: string;
  created_at: Date;
}

const toRecord = (r: CaptionRow): CaptionRecord => ({
  id: r.id,
  imageId: r.image_id,
  text: r.text,
  createdAt: new Date(r.created_at),
});

/**
 * A caption whose full-text form (the generated `tsv` column) passes PostgreSQL's 1 MB tsvector
 * limit fails with SQLSTATE 54000: the caption is too big, the client's to fix, not an internal
 * error.
 */
function asCaptionLimit(error: unknown): never {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (e?.code === '54000' && typeof e.message === 'string' && e.message.includes('tsvector')) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      'A caption is too long to index for full-text search (its tsvector form is over the 1 MB limit)',
      { cause: error },
    );
  }
  throw error;
}

/** Shared with ImagesRepository so an image and its captions go in with one statement each. */
export async function insertCaptions(
  db: Queryable,
  imageId: number,
  texts: readonly string[],
): Promise<CaptionRecord[]> {
  if (texts.length === 0) return [];
  const rows = await db
    .query<CaptionRow>(
      `INSERT INTO captions (image_id, text)
       SELECT $1, t FROM unnest($2::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n
       RETURNING id, image_id, text, created_at`,
      [imageId, texts],
    )
    .catch(asCaptionLimit);
  return rows.map(toRecord).sort((a, b) => a.id - b.id);
}

export interface KeywordScoreOptions {
  /** How many of the best matches to return. */
  limit: number;
  /** Only captions whose image matches. */
  filter?: ImageFilter | undefined;
  /** Ids whose scores are wanted whatever their place (a hybrid search's vector hits). */
  among?: readonly number[] | undefined;
}

export interface ScoredRow {
  id: number;
  score: number;
}

/**
 * A caption's keyword score in [0, 1): cover density with every word weighted 1 (captions carry no
 * setweight labels), normalised by flag 32 to rank / (rank + 1). It reads only the caption and the
 * query, no corpus statistics and no other rows, so adding or deleting a caption never changes
 * another caption's score (hybrid paging relies on it; issue 9, item 2). One tight cover of all
 * query words scores 0.5; repeated covers approach 1.
 */
const KEYWORD_SCORE = `ts_rank_cd('{1,1,1,1}'::float4[], c.tsv, q, 32)`;

function keywordParams(query: string, options: KeywordScoreOptions) {
  checkLimit(options.limit);
  const among = options.among ?? [];
  checkIds(among);
  const params: unknown[] = [query];
  const where = imageFilterSql(options.filter, 'i', params).join(' AND ');
  params.push(options.limit);
  const limitAt = `$${params.length}`;
  params.push(among);
  return { params, where, limitAt, amongAt: `$${params.length}` };
}

export class CaptionsRepository {
  constructor(private readonly db: Queryable) {}

  add(imageId: number, texts: readonly string[]): Promise<CaptionRecord[]> {
    return insertCaptions(this.db, imageId, texts);
  }

  /**
   * Adds those of `texts` the image does not have yet (exact text match; repeats within `texts`
   * count once), in the order given. Call holding `ImagesRepository.lockLive(imageId)`, so two
   * writers attaching the same text cannot both miss the other's row.
   */
  async addMissing(imageId: number, texts: readonly string[]): Promise<CaptionRecord[]> {
    if (texts.length === 0) return [];
    const rows = await this.db
      .query<CaptionRow>(
        `INSERT INTO captions (image_id, text)
       SELECT $1, u.t FROM (
         SELECT t, min(n) AS n FROM unnest($2::text[]) WITH ORDINALITY AS x(t, n) GROUP BY t
       ) u
       WHERE NOT EXISTS (SELECT 1 FROM captions c WHERE c.image_id = $1 AND c.text = u.t)
       ORDER BY u.n
       RETURNING id, image_id, text, created_at`,
        [imageId, texts],
      )
      .catch(asCaptionLimit);
    return rows.map(toRecord).sort((a, b) => a.id - b.id);
  }

  /** Ids of every caption of `imageId`, live or not, ascending. */
  async idsOfImage(imageId: number): Promise<number[]> {
    const rows = await this.db.query<{ id: number }>(
      'SELECT id FROM captions WHERE image_id = $1 ORDER BY id',
      [imageId],
    );
    return rows.map((r) => r.id);
  }

  /** Captions for `ids` in the order given; those of deleted images and unknown ids left out. */
  async getByIds(ids: readonly number[]): Promise<CaptionRecord[]> {
    checkIds(ids);
    if (ids.length === 0) return [];
    const rows = await this.db.query<CaptionRow>(
      `SELECT c.id, c.image_id, c.text, c.created_at FROM captions c JOIN images i ON i.id = c.image_id
       WHERE c.id = ANY($1::bigint[]) AND i.deleted_at IS NULL`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, toRecord(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async getByImageIds(imageIds: readonly number[]): Promise<Map<number, CaptionRecord[]>> {
    checkIds(imageIds);
    const result = new Map<number, CaptionRecord[]>(imageIds.map((id) => [id, []]));
    if (imageIds.length === 0) return result;
    const rows = await this.db.query<CaptionRow>(
      'SELECT id, image_id, text, created_at FROM captions WHERE image_id = ANY($1::bigint[]) ORDER BY id',
      [imageIds],
    );
    for (const row of rows) result.get(row.image_id)?.push(toRecord(row));
    return result;
  }

  /**
   * Keyword scores of live captions matching `query` (English stemming): the best `limit` of them
   * ranked by (score desc, id asc), plus any of `among` that match. See `KEYWORD_SCORE`.
   */
  async keywordScores(query: string, options: KeywordScoreOptions): Promise<ScoredRow[]> {
    const { params, limitAt, amongAt, where } = keywordParams(query, options);
    return this.db.query<ScoredRow>(
      `WITH s AS (
         SELECT c.id, ${KEYWORD_SCORE}::float8 AS score
         FROM captions c JOIN images i ON i.id = c.image_id, plainto_tsquery('english', $1) q
         WHERE c.tsv @@ q AND ${where})
       (SELECT id, score FROM s ORDER BY score DESC, id LIMIT ${limitAt})
       UNION SELECT id, score FROM s WHERE id = ANY(${amongAt}::bigint[])`,
      params,
    );
  }

  /** `keywordScores` for images: an image scores as its best-scoring live caption. */
  async imageKeywordScores(query: string, options: KeywordScoreOptions): Promise<ScoredRow[]> {
    const { params, limitAt, amongAt, where } = keywordParams(query, options);
    return this.db.query<ScoredRow>(
      `WITH s AS (
         SELECT c.image_id AS id, max(${KEYWORD_SCORE})::float8 AS score
         FROM captions c JOIN images i ON i.id = c.image_id, plainto_tsquery('english', $1) q
         WHERE c.tsv @@ q AND ${where} GROUP BY c.image_id)
       (SELECT id, score FROM s ORDER BY score DESC, id LIMIT ${limitAt})
       UNION SELECT id, score FROM s WHERE id = ANY(${amongAt}::bigint[])`,
      params,
    );
  }

  /** Ids of live captions whose image matches `filter`, ascending, at most `limit`. */
  filterIds(filter: ImageFilter | undefined, limit: number): Promise<number[]> {
    return filteredIds(this.db, CAPTION_ROWS, filter, limit);
  }

  /** Which of `ids` are live captions whose image matches `filter`, ascending (see filteredAmong). */
  filterAmong(ids: readonly number[], filter: ImageFilter | undefined): Promise<number[]> {
    return filteredAmong(this.db, CAPTION_ROWS, ids, filter);
  }

  async countLive(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM captions c JOIN images i ON i.id = c.image_id WHERE i.deleted_at IS NULL',
    );
    return rows[0]?.n ?? 0;
  }
}
