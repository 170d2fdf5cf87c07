import { endianness } from 'node:os';
import { AppError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { checkIds, checkLimit } from './limits.ts';
import { PgvectorRepository } from './pgvector.repository.ts';

export type VectorKind = 'image' | 'caption';

/** Table and column per kind; whitelisted here so no caller string reaches the SQL text. */
const TABLES = {
  image: { table: 'image_vectors', id: 'image_id', live: 'SELECT id FROM images WHERE deleted_at IS NULL' },
  caption: {
    table: 'caption_vectors',
    id: 'caption_id',
    live: 'SELECT c.id FROM captions c JOIN images i ON i.id = c.image_id WHERE i.deleted_at IS NULL',
  },
} as const;

/** Little-endian float32 bytes: compact, exact, and identical on both backends. */
const LITTLE_ENDIAN = endianness() === 'LE';

export function encodeVector(vector: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  const buf = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i]!, i * 4);
  return buf;
}

export function decodeVector(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export class VectorsRepository {
  constructor(private readonly db: Queryable) {}

  async upsert(
    kind: VectorKind,
    fingerprint: string,
    rows: readonly { id: number; vector: Float32Array }[],
  ): Promise<void> {
    checkIds(rows);
    if (rows.length === 0) return;
    const dims = rows[0]!.vector.length;
    if (rows.some((r) => r.vector.length !== dims)) {
      throw new AppError('INVALID_INPUT', `All vectors in one upsert must have ${dims} dimensions`);
    }
    const t = TABLES[kind];
    await this.db.query(
      `INSERT INTO ${t.table} (${t.id}, fingerprint, dims, vector)
       SELECT id, $2, $3, v FROM unnest($1::bigint[], $4::bytea[]) AS u(id, v)
       ON CONFLICT (fingerprint, ${t.id}) DO UPDATE SET dims = EXCLUDED.dims, vector = EXCLUDED.vector`,
      [rows.map((r) => r.id), fingerprint, dims, rows.map((r) => encodeVector(r.vector))],
    );
    // The same vectors into the pgvector table of these models, if VECTOR_BACKEND=pgvector ever
    // created one: same transaction as the caller's, so a pgvector search never misses a
    // committed row, whichever process (API, indexer, worker) wrote it.
    const pgvector = new PgvectorRepository(this.db);
    const table = await pgvector.registered(kind, fingerprint);
    if (table) await pgvector.upsert(table, rows);
  }

  async get(
    kind: VectorKind,
    fingerprint: string,
    ids: readonly number[],
  ): Promise<Map<number, Float32Array>> {
    checkIds(ids);
    if (ids.length === 0) return new Map();
    const t = TABLES[kind];
    const rows = await this.db.query<{ id: number; vector: Uint8Array }>(
      `SELECT ${t.id} AS id, vector FROM ${t.table} WHERE fingerprint = $1 AND ${t.id} = ANY($2::bigint[])`,
      [fingerprint, ids],
    );
    return new Map(rows.map((r) => [r.id, decodeVector(r.vector)]));
  }

  /** Live vectors with id > afterId, in id order: the reconcile and rebuild scan. */
  async scan(
    kind: VectorKind,
    fingerprint: string,
    page: { afterId: number; limit: number },
  ): Promise<{ id: number; vector: Float32Array }[]> {
    checkLimit(page.limit);
    const t = TABLES[kind];
    const rows = await this.db.query<{ id: number; vector: Uint8Array }>(
      `SELECT v.${t.id} AS id, v.vector FROM ${t.table} v
       WHERE v.fingerprint = $1 AND v.${t.id} > $2 AND v.${t.id} IN (${t.live})
       ORDER BY v.${t.id} LIMIT $3`,
      [fingerprint, page.afterId, page.limit],
    );
    return rows.map((r) => ({ id: r.id, vector: decodeVector(r.vector) }));
  }

  /** Ids that have a vector but whose image (or caption's image) is soft-deleted. */
  async deletedIds(kind: VectorKind, fingerprint: string): Promise<number[]> {
    const t = TABLES[kind];
    const rows = await this.db.query<{ id: number }>(
      `SELECT v.${t.id} AS id FROM ${t.table} v
       WHERE v.fingerprint = $1 AND v.${t.id} NOT IN (${t.live}) ORDER BY 1`,
      [fingerprint],
    );
    return rows.map((r) => r.id);
  }

  async count(kind: VectorKind, fingerprint: string): Promise<number> {
    const t = TABLES[kind];
    const rows = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${t.table} v WHERE v.fingerprint = $1 AND v.${t.id} IN (${t.live})`,
      [fingerprint],
    );
    return rows[0]?.n ?? 0;
  }

  /** Live images or captions that have no vector for `fingerprint` yet (e.g. after a model change). */
  async missingIds(kind: VectorKind, fingerprint: string, limit: number): Promise<number[]> {
    checkLimit(limit);
    const t = TABLES[kind];
    const rows = await this.db.query<{ id: number }>(
      `SELECT l.id FROM (${t.live}) l
       WHERE NOT EXISTS (SELECT 1 FROM ${t.table} v WHERE v.fingerprint = $1 AND v.${t.id} = l.id)
       ORDER BY l.id LIMIT $2`,
      [fingerprint, limit],
    );
    return rows.map((r) => r.id);
  }
}
