import { AppError } from '../errors.ts';

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
