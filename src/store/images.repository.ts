import type { CaptionRecord } from './captions.repository.ts';
import { insertCaptions } from './captions.repository.ts';
import type { Queryable } from './db.ts';
import { filteredAmong, filteredIds, IMAGE_ROWS, imageFilterSql, type ImageFilter } from './image-filter.ts';
import { checkIds, checkLimit } from './limits.ts';

export interface ImageRecord {
  id: number;
  sha256: string;
  uri: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  metadata: Record<string, unknown>;
  createdAt: Date;
  deletedAt: Date | null;
}

/** An image as the indexer hands it over: the record less what the database assigns. */
export type NewImage = Omit<ImageRecord, 'id' | 'metadata' | 'createdAt' | 'deletedAt'> & {
  metadata?: Record<string, unknown>;
};

/** A row as the driver returns it: the record's columns, the two dates in snake_case. */
type ImageRow = Omit<ImageRecord, 'createdAt' | 'deletedAt'> & { created_at: Date; deleted_at: Date | null };

const COLUMNS = 'id, sha256, uri, width, height, format, bytes, metadata, created_at, deleted_at';

function toRecord(row: ImageRow): ImageRecord {
  return {
    id: row.id,
    sha256: row.sha256,
    uri: row.uri,
    width: row.width,
    height: row.height,
    format: row.format,
    bytes: row.bytes,
    metadata: row.metadata,
    createdAt: new Date(row.created_at),
    deletedAt: row.deleted_at === null ? null : new Date(row.deleted_at),
  };
}

export class ImagesRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Upsert by content hash. A new image gets its captions; an existing live one is returned as is
   * (`inserted: false`). A soft-deleted one is revived with the new captions: re-adding a deleted
   * image is a user asking for it back.
   */
  async insertWithCaptions(
    image: NewImage,
    captions: readonly string[],
  ): Promise<{ image: ImageRecord; captions: CaptionRecord[]; inserted: boolean }> {
    const rows = await this.db.query<ImageRow & { inserted: boolean }>(
      `INSERT INTO images (sha256, uri, width, height, format, bytes, metadata)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
       ON CONFLICT (sha256) DO UPDATE SET deleted_at = NULL, uri = EXCLUDED.uri, metadata = EXCLUDED.metadata
         WHERE images.deleted_at IS NOT NULL
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [
        image.sha256,
        image.uri,
        image.width,
        image.height,
        image.format,
        image.bytes,
        JSON.stringify(image.metadata ?? {}),
      ],
    );
    const row = rows[0];
    if (row === undefined) {
      const existing = await this.db.query<ImageRow>(`SELECT ${COLUMNS} FROM images WHERE sha256 = $1`, [
        image.sha256,
      ]);
      return { image: toRecord(existing[0]!), captions: [], inserted: false };
    }
    const revived = !row.inserted;
    if (revived) await this.db.query('DELETE FROM captions WHERE image_id = $1', [row.id]);
    return {
      image: toRecord(row),
      captions: await insertCaptions(this.db, row.id, captions),
      inserted: true,
    };
  }

  /**
   * Inserts new images, without captions, in one statement; ids come back in input order. For
   * bulk loads (benchmarks seed 100k rows with it): unlike insertWithCaptions, a hash already
   * stored is an error, not an upsert.
   */
  async insertMany(images: readonly NewImage[]): Promise<number[]> {
    checkIds(images);
    if (images.length === 0) return [];
    const rows = await this.db.query<{ id: number; sha256: string }>(
      `INSERT INTO images (sha256, uri, width, height, format, bytes, metadata)
       SELECT sha256, uri, width, height, format, bytes, metadata
       FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::bigint[], $7::jsonb[])
         AS u(sha256, uri, width, height, format, bytes, metadata)
       RETURNING id, sha256`,
      [
        images.map((i) => i.sha256),
        images.map((i) => i.uri),
        images.map((i) => i.width),
        images.map((i) => i.height),
        images.map((i) => i.format),
        images.map((i) => i.bytes),
        images.map((i) => JSON.stringify(i.metadata ?? {})),
      ],
    );
    const idOf = new Map(rows.map((r) => [r.sha256, r.id]));
    return images.map((i) => idOf.get(i.sha256)!);
  }

  async findIdsByHashes(hashes: readonly string[]): Promise<Map<string, number>> {
    checkIds(hashes);
    if (hashes.length === 0) return new Map();
    const rows = await this.db.query<{ id: number; sha256: string }>(
      'SELECT id, sha256 FROM images WHERE sha256 = ANY($1::text[]) AND deleted_at IS NULL',
      [hashes],
    );
    return new Map(rows.map((r) => [r.sha256, r.id]));
  }

  /** Live images for `ids`, in the order given; unknown and deleted ids are left out. */
  async getByIds(ids: readonly number[]): Promise<ImageRecord[]> {
    checkIds(ids);
    if (ids.length === 0) return [];
    const rows = await this.db.query<ImageRow>(
      `SELECT ${COLUMNS} FROM images WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, toRecord(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Live images for `ids` with their captions (ascending id), in the order given: a page of
   * search hits hydrated in one query. Unknown and deleted ids are left out.
   */
  async getByIdsWithCaptions(
    ids: readonly number[],
  ): Promise<(ImageRecord & { captions: CaptionRecord[] })[]> {
    checkIds(ids);
    if (ids.length === 0) return [];
    const rows = await this.db.query<
      ImageRow & { captions: { id: number; text: string; created_at: string }[] | string }
    >(
      `SELECT ${COLUMNS.split(', ')
        .map((c) => `i.${c}`)
        .join(', ')},
         COALESCE(json_agg(json_build_object('id', c.id, 'text', c.text, 'created_at', c.created_at) ORDER BY c.id)
           FILTER (WHERE c.id IS NOT NULL), '[]'::json) AS captions
       FROM images i LEFT JOIN captions c ON c.image_id = i.id
       WHERE i.id = ANY($1::bigint[]) AND i.deleted_at IS NULL
       GROUP BY i.id`,
      [ids],
    );
    const byId = new Map(
      rows.map((r) => {
        const captions =
          typeof r.captions === 'string' ? (JSON.parse(r.captions) as typeof r.captions) : r.captions;
        const list = (captions as { id: number; text: string; created_at: string }[]).map((c) => ({
          id: Number(c.id),
          imageId: r.id,
          text: c.text,
          createdAt: new Date(c.created_at),
        }));
        return [r.id, { ...toRecord(r), captions: list }];
      }),
    );
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Locks a live image's row until the transaction ends; false when it is unknown or deleted.
   * Whoever attaches captions takes it before writing, and a soft delete (an UPDATE of the same
   * row) waits for them, so captions are never committed to an image deleted in between.
   * NO KEY UPDATE: conflicts with itself and the delete, not with the foreign-key checks of inserts.
   */
  async lockLive(id: number): Promise<boolean> {
    const rows = await this.db.query<{ id: number }>(
      'SELECT id FROM images WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE',
      [id],
    );
    return rows.length === 1;
  }

  async softDelete(id: number): Promise<boolean> {
    const rows = await this.db.query<{ id: number }>(
      'UPDATE images SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id',
      [id],
    );
    return rows.length === 1;
  }

  /** Keyset paging on id: stable under concurrent inserts, no offsets. */
  async list(
    filter: ImageFilter | undefined,
    page: { first: number; afterId?: number },
  ): Promise<{ rows: ImageRecord[]; hasNextPage: boolean }> {
    checkLimit(page.first);
    const params: unknown[] = [];
    const where = imageFilterSql(filter, 'i', params);
    if (page.afterId !== undefined) {
      params.push(page.afterId);
      where.push(`i.id > $${params.length}`);
    }
    params.push(page.first + 1);
    const rows = await this.db.query<ImageRow>(
      `SELECT ${COLUMNS} FROM images i WHERE ${where.join(' AND ')} ORDER BY i.id LIMIT $${params.length}`,
      params,
    );
    return { rows: rows.slice(0, page.first).map(toRecord), hasNextPage: rows.length > page.first };
  }

  /** Ids of live images matching `filter`, ascending, at most `limit`. */
  filterIds(filter: ImageFilter | undefined, limit: number): Promise<number[]> {
    return filteredIds(this.db, IMAGE_ROWS, filter, limit);
  }

  /** Which of `ids` are live images matching `filter`, ascending (see filteredAmong). */
  filterAmong(ids: readonly number[], filter: ImageFilter | undefined): Promise<number[]> {
    return filteredAmong(this.db, IMAGE_ROWS, ids, filter);
  }

  async countLive(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM images WHERE deleted_at IS NULL',
    );
    return rows[0]?.n ?? 0;
  }
}
