import { AppError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { checkIds, checkLimit } from './limits.ts';

/** Filters on images that searches and listings share; every field narrows the set. */
export interface ImageFilter {
  /** jsonb containment: the image's metadata must contain this object. */
  metadata?: Record<string, unknown>;
  formats?: readonly string[];
  minWidth?: number;
  maxWidth?: number;
  minHeight?: number;
  maxHeight?: number;
  minBytes?: number;
  maxBytes?: number;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Full-text match (English stemming) against any of the image's captions. */
  captionMatch?: string;
}

/**
 * Appends the filter's conditions on the images table aliased `alias` to `where`, pushing values
 * onto `params` ($n placeholders): values never touch the SQL text.
 */
export function imageFilterSql(filter: ImageFilter | undefined, alias: string, params: unknown[]): string[] {
  const where = [`${alias}.deleted_at IS NULL`];
  if (!filter) return where;
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.metadata && Object.keys(filter.metadata).length > 0) {
    where.push(`${alias}.metadata @> ${p(JSON.stringify(filter.metadata))}::jsonb`);
  }
  if (filter.formats && filter.formats.length > 0)
    where.push(`${alias}.format = ANY(${p(filter.formats)}::text[])`);
  const ranges: [keyof ImageFilter, string, string][] = [
    ['minWidth', 'width', '>='],
    ['maxWidth', 'width', '<='],
    ['minHeight', 'height', '>='],
    ['maxHeight', 'height', '<='],
    ['minBytes', 'bytes', '>='],
    ['maxBytes', 'bytes', '<='],
    ['createdAfter', 'created_at', '>='],
    ['createdBefore', 'created_at', '<'],
  ];
  for (const [key, column, op] of ranges) {
    const value = filter[key];
    if (value !== undefined && value !== null) where.push(`${alias}.${column} ${op} ${p(value)}`);
  }
  if (filter.captionMatch !== undefined && filter.captionMatch.trim() !== '') {
    // PostgreSQL text cannot hold NUL: refused here, for every caller, before it fails as a query.
    if (filter.captionMatch.includes('\u0000')) {
      throw new AppError('INVALID_INPUT', 'filter.captionMatch must not contain NUL (U+0000) characters');
    }
    where.push(
      `EXISTS (SELECT 1 FROM captions fc WHERE fc.image_id = ${alias}.id ` +
        `AND fc.tsv @@ plainto_tsquery('english', ${p(filter.captionMatch)}))`,
    );
  }
  return where;
}

/** Rows that a filter on their image selects: `from` joins the images as `i`; `id` is the row's id. */
export interface FilteredRows {
  from: string;
  id: string;
}

export const IMAGE_ROWS: FilteredRows = { from: 'images i', id: 'i.id' };
export const CAPTION_ROWS: FilteredRows = {
  from: 'captions c JOIN images i ON i.id = c.image_id',
  id: 'c.id',
};

/** Ids of `rows` whose image is live and matches `filter`, ascending, at most `limit`. */
export async function filteredIds(
  db: Queryable,
  rows: FilteredRows,
  filter: ImageFilter | undefined,
  limit: number,
): Promise<number[]> {
  checkLimit(limit);
  const params: unknown[] = [];
  const where = imageFilterSql(filter, 'i', params);
  params.push(limit);
  const found = await db.query<{ id: number }>(
    `SELECT ${rows.id} FROM ${rows.from}
     WHERE ${where.join(' AND ')} ORDER BY ${rows.id} LIMIT $${params.length}`,
    params,
  );
  return found.map((r) => r.id);
}

/**
 * Which of `ids` are `rows` whose image is live and matches `filter`, ascending: the filtered
 * vector search asks this of each round of candidates instead of loading every matching id.
 */
export async function filteredAmong(
  db: Queryable,
  rows: FilteredRows,
  ids: readonly number[],
  filter: ImageFilter | undefined,
): Promise<number[]> {
  checkIds(ids);
  if (ids.length === 0) return [];
  const params: unknown[] = [ids];
  const where = imageFilterSql(filter, 'i', params);
  const found = await db.query<{ id: number }>(
    `SELECT ${rows.id} FROM ${rows.from}
     WHERE ${rows.id} = ANY($1::bigint[]) AND ${where.join(' AND ')} ORDER BY ${rows.id}`,
    params,
  );
  return found.map((r) => r.id);
}
