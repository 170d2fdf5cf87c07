/**
 * All SQL of the pgvector backend. One table per (kind, model fingerprint), named from a hash of
 * the fingerprint and registered in `pgvector_tables` (migration 002): a `vector(D)` column with
 * its own HNSW index. Table names only ever come from `tableName()` and the registry, checked
 * against one pattern, so no caller string reaches the SQL text.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { imageFilterSql, type ImageFilter } from './image-filter.ts';
import { checkIds, checkLimit } from './limits.ts';

export type PgvectorKind = 'image' | 'caption';

/** Any constant; the same in every process of this application. */
const PGVECTOR_SETUP_LOCK = 72_310_456;

const TABLE_PATTERN = /^pgv_(image|caption)_[0-9a-f]{16}$/;

/** Whose rows a kind's vectors belong to, and how they reach the images table the filter is on. */
const JOINS = {
  image: { references: 'images', join: 'JOIN images i ON i.id = v.id' },
  caption: {
    references: 'captions',
    join: 'JOIN captions c ON c.id = v.id JOIN images i ON i.id = c.image_id',
  },
} as const;

export interface PgvectorTable {
  kind: PgvectorKind;
  fingerprint: string;
  dims: number;
  name: string;
}

export interface PgvectorSearchSettings {
  /** `hnsw.ef_search` for this query (pgvector caps it at 1000). */
  efSearch: number;
}

export function tableName(kind: PgvectorKind, fingerprint: string): string {
  return `pgv_${kind}_${createHash('sha256').update(fingerprint).digest('hex').slice(0, 16)}`;
}

/** pgvector's text form; a float32's shortest decimal reads back as the same float32. */
export function vectorLiteral(vector: Float32Array): string {
  return `[${Array.from(vector).join(',')}]`;
}

function checked(name: string): string {
  if (!TABLE_PATTERN.test(name)) throw new Error(`Invariant violated: bad pgvector table name ${name}`);
  return name;
}

export class PgvectorRepository {
  constructor(private readonly db: Queryable) {}

  /** The installed pgvector version, or undefined when the extension is not installed. */
  async installedVersion(): Promise<string | undefined> {
    const rows = await this.db.query<{ v: string }>(
      "SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'",
    );
    return rows[0]?.v;
  }

  /** The version the server could install, or undefined when pgvector is not on the server. */
  async availableVersion(): Promise<string | undefined> {
    const rows = await this.db.query<{ v: string | null }>(
      "SELECT default_version AS v FROM pg_available_extensions WHERE name = 'vector'",
    );
    return rows[0]?.v ?? undefined;
  }

  async createExtension(): Promise<void> {
    await this.db.query('CREATE EXTENSION IF NOT EXISTS vector');
  }

  /** Serialises table and index creation between processes, until the transaction ends. */
  async lockSetup(): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock($1)', [PGVECTOR_SETUP_LOCK]);
  }

  async registered(kind: PgvectorKind, fingerprint: string): Promise<PgvectorTable | undefined> {
    const rows = await this.db.query<{ dims: number; name: string }>(
      'SELECT dims, table_name AS name FROM pgvector_tables WHERE kind = $1 AND fingerprint = $2',
      [kind, fingerprint],
    );
    const row = rows[0];
    return row && { kind, fingerprint, dims: row.dims, name: checked(row.name) };
  }

  /**
   * Creates the table (empty, no index yet: a bulk load builds the graph faster after it) and
   * registers it, so every writer mirrors into it from the next transaction on.
   */
  async createTable(kind: PgvectorKind, fingerprint: string, dims: number): Promise<PgvectorTable> {
    if (!Number.isInteger(dims) || dims < 1 || dims > 16000)
      throw new AppError('INVALID_INPUT', `pgvector columns hold 1..16000 dimensions, got ${dims}`);
    const name = checked(tableName(kind, fingerprint));
    const { references } = JOINS[kind];
    await this.db.query(
      `CREATE TABLE IF NOT EXISTS ${name} (
         id bigint PRIMARY KEY REFERENCES ${references} (id) ON DELETE CASCADE,
         embedding vector(${dims}) NOT NULL)`,
    );
    await this.db.query(
      `INSERT INTO pgvector_tables (kind, fingerprint, dims, table_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (kind, fingerprint) DO NOTHING`,
      [kind, fingerprint, dims, name],
    );
    return { kind, fingerprint, dims, name };
  }

  async dropTable(kind: PgvectorKind, fingerprint: string): Promise<void> {
    await this.db.query('DELETE FROM pgvector_tables WHERE kind = $1 AND fingerprint = $2', [
      kind,
      fingerprint,
    ]);
    await this.db.query(`DROP TABLE IF EXISTS ${checked(tableName(kind, fingerprint))}`);
  }

  /** The HNSW graph over the table (cosine: the vectors are unit length, so it ranks as dot product). */
  async createIndex(table: PgvectorTable, params: { m: number; efConstruction: number }): Promise<void> {
    const m = Math.trunc(params.m);
    const ef = Math.trunc(params.efConstruction);
    await this.db.query(
      `CREATE INDEX IF NOT EXISTS ${checked(table.name)}_hnsw ON ${checked(table.name)}
       USING hnsw (embedding vector_cosine_ops) WITH (m = ${m}, ef_construction = ${ef})`,
    );
  }

  async dropIndex(table: PgvectorTable): Promise<void> {
    await this.db.query(`DROP INDEX IF EXISTS ${checked(table.name)}_hnsw`);
  }

  /** Writes or replaces vectors (ids must exist in the kind's table). */
  async upsert(table: PgvectorTable, rows: readonly { id: number; vector: Float32Array }[]): Promise<void> {
    checkIds(rows);
    if (rows.length === 0) return;
    await this.db.query(
      `INSERT INTO ${checked(table.name)} (id, embedding)
       SELECT id, v::vector FROM unnest($1::bigint[], $2::text[]) AS u(id, v)
       ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding`,
      [rows.map((r) => r.id), rows.map((r) => vectorLiteral(r.vector))],
    );
  }

  /** Bytes on disk of the table (heap + TOAST) and of its HNSW index. */
  async relationBytes(table: PgvectorTable): Promise<{ table: number; index: number }> {
    const name = checked(table.name);
    const rows = await this.db.query<{ t: number; i: number | null }>(
      `SELECT pg_table_size('${name}')::float8 AS t, pg_relation_size(to_regclass('${name}_hnsw'))::float8 AS i`,
    );
    return { table: rows[0]?.t ?? 0, index: rows[0]?.i ?? 0 };
  }

  /** Live items (image not deleted) in the table. */
  async countLive(table: PgvectorTable): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${checked(table.name)} v ${JOINS[table.kind].join}
       WHERE i.deleted_at IS NULL`,
    );
    return rows[0]?.n ?? 0;
  }

  /** Ids stored as bytea for the table's fingerprint but absent from it, ascending: what to move. */
  async missingIds(table: PgvectorTable, afterId: number, limit: number): Promise<number[]> {
    checkLimit(limit);
    const source = table.kind === 'image' ? ['image_vectors', 'image_id'] : ['caption_vectors', 'caption_id'];
    const rows = await this.db.query<{ id: number }>(
      `SELECT s.${source[1]} AS id FROM ${source[0]} s
       WHERE s.fingerprint = $1 AND s.${source[1]} > $2
         AND NOT EXISTS (SELECT 1 FROM ${checked(table.name)} v WHERE v.id = s.${source[1]})
       ORDER BY 1 LIMIT $3`,
      [table.fingerprint, afterId, limit],
    );
    return rows.map((r) => r.id);
  }

  /**
   * The `limit` nearest live items passing `filter`, by the HNSW index, in one statement. Run it
   * inside a transaction: `SET LOCAL` (set_config(..., true)) scopes the settings to it.
   *
   * `hnsw.iterative_scan = strict_order`: when the filter drops candidates, the scan goes on past
   * ef_search until LIMIT rows pass, and hands them back in exact distance order, so LIMIT keeps
   * the best ones found. relaxed_order may return a farther row before a nearer one, and the LIMIT
   * would then cut a better row: the results would no longer equal the exact top-k, and a page
   * could change with the window. `max_scan_tuples` is lifted so a selective filter still fills k
   * (the caller sends sets small enough to scan exactly elsewhere, and falls back to exact when a
   * scan still comes back short).
   */
  async nearest(
    table: PgvectorTable,
    query: Float32Array,
    limit: number,
    filter: ImageFilter | undefined,
    settings: PgvectorSearchSettings,
  ): Promise<{ id: number; score: number }[]> {
    checkLimit(limit);
    await this.db.query(
      `SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true),
              set_config('hnsw.max_scan_tuples', '2147483647', true)`,
      [String(Math.max(1, Math.min(1000, Math.trunc(settings.efSearch))))],
    );
    const params: unknown[] = [vectorLiteral(query), limit];
    const where = imageFilterSql(filter, 'i', params);
    // Ordered by the index's operator (<=>) so the planner can walk the graph; scored by dot
    // product (<#>), the score every backend reports for unit vectors.
    return this.db.query<{ id: number; score: number }>(
      `SELECT v.id AS id, (-(v.embedding <#> $1::vector))::float8 AS score
       FROM ${checked(table.name)} v ${JOINS[table.kind].join}
       WHERE ${where.join(' AND ')}
       ORDER BY v.embedding <=> $1::vector LIMIT $2`,
      params,
    );
  }

  /**
   * The exact top `limit` among live items passing `filter` (and among `ids` when given): every
   * matching row scored, no index (the order is by <#> and id, which the cosine graph cannot give).
   */
  async exactNearest(
    table: PgvectorTable,
    query: Float32Array,
    limit: number,
    filter: ImageFilter | undefined,
    ids?: readonly number[],
  ): Promise<{ id: number; score: number }[]> {
    checkLimit(limit);
    if (ids) checkIds(ids);
    const params: unknown[] = [vectorLiteral(query), limit];
    const where = imageFilterSql(filter, 'i', params);
    if (ids) {
      params.push(ids);
      where.push(`v.id = ANY($${params.length}::bigint[])`);
    }
    return this.db.query<{ id: number; score: number }>(
      `SELECT v.id AS id, (-(v.embedding <#> $1::vector))::float8 AS score
       FROM ${checked(table.name)} v ${JOINS[table.kind].join}
       WHERE ${where.join(' AND ')}
       ORDER BY v.embedding <#> $1::vector, v.id LIMIT $2`,
      params,
    );
  }
}
