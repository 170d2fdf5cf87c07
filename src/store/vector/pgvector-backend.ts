/**
 * The pgvector backend: vectors in `vector(D)` columns with HNSW indexes inside Postgres, filters
 * in the same SQL statement. Nothing lives in the process, so any number of API processes can
 * serve one database, and a row is searchable the moment its transaction commits.
 *
 * One table per (kind, model fingerprint) rather than one table with a partial index per
 * fingerprint: the column can be typed `vector(D)` (a model's dimension is checked on every write),
 * each graph is a plain index the planner always picks (a partial index is only used when the
 * planner can prove `fingerprint = '...'` from the query text, which a bind parameter hides in a
 * generic plan), the statistics describe one model's rows, and retiring old models is one
 * DROP TABLE instead of a bloated shared heap.
 */
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { CaptionsRepository } from '../captions.repository.ts';
import type { Db } from '../db.ts';
import { imageFilterSql, type ImageFilter } from '../image-filter.ts';
import { ImagesRepository } from '../images.repository.ts';
import { IngestRepository } from '../ingest.repository.ts';
import { PgvectorRepository, type PgvectorTable } from '../pgvector.repository.ts';
import { VectorsRepository, type VectorKind } from '../vectors.repository.ts';
import type { Config } from '../../config.ts';
import { refuseUnembedded } from './refuse-unembedded.ts';
import type { SearchHit, VectorBackend, VectorSearch } from './types.ts';

/** Iterative index scans (`hnsw.iterative_scan`) arrived in pgvector 0.8.0. */
export const MIN_PGVECTOR = '0.8.0';
const KINDS: readonly VectorKind[] = ['image', 'caption'];
/** Vectors moved from bytea per statement. */
const MOVE_BATCH = 1000;
/**
 * Rows fetched beyond k: the graph orders by cosine distance, results rank by dot product, and for
 * unit vectors stored in float32 the two can swap near-ties; the extra rows let the re-sort by
 * dot product settle the k-th place the way the exact path does.
 */
const SLACK = 8;

export interface PgvectorBackend extends VectorBackend {
  readonly name: 'pgvector';
  readonly search: Readonly<Record<VectorKind, VectorSearch>>;
  /** Vectors copied from the bytea rows while opening, per kind (0 when the tables were current). */
  readonly moved: Readonly<Record<VectorKind, number>>;
}

export interface OpenPgvectorOptions {
  config: Pick<Config, 'hnsw' | 'paths'>;
  db: Db;
  fingerprint: string;
  dims: number;
  logger: Logger;
  /** Drop and rebuild the tables from the bytea rows (`npm run reindex`). @default false */
  rebuild?: boolean;
  /** See OpenIndexesOptions.allowMissingVectors. @default false */
  allowMissingVectors?: boolean;
}

export async function openPgvector(options: OpenPgvectorOptions): Promise<PgvectorBackend> {
  const { db, fingerprint, dims, logger, config } = options;
  const repo = new PgvectorRepository(db);
  const version = await ensureExtension(repo);
  if (!options.allowMissingVectors)
    await refuseUnembedded(
      new VectorsRepository(db),
      new IngestRepository(db),
      fingerprint,
      config.paths.indexes,
      logger,
    );
  const tables = {} as Record<VectorKind, PgvectorTable>;
  const moved = {} as Record<VectorKind, number>;
  const sizes = {} as Record<VectorKind, number>;
  for (const kind of KINDS) {
    tables[kind] = await db.transaction(async (tx) => {
      const r = new PgvectorRepository(tx);
      // Two processes opening together must not both create the table.
      await r.lockSetup();
      if (options.rebuild) await r.dropTable(kind, fingerprint);
      return (await r.registered(kind, fingerprint)) ?? (await r.createTable(kind, fingerprint, dims));
    });
    if (tables[kind].dims !== dims)
      throw new AppError(
        'MODEL_MISMATCH',
        `The pgvector table for models ${fingerprint} holds ${tables[kind].dims}-d vectors, the models give ${dims}-d`,
      );
    moved[kind] = await moveVectors(db, tables[kind]);
    // After the bulk load: building the graph once is faster than growing it row by row.
    await db.transaction(async (tx) => {
      const r = new PgvectorRepository(tx);
      await r.lockSetup();
      await r.createIndex(tables[kind], config.hnsw);
    });
    sizes[kind] = await repo.countLive(tables[kind]);
  }
  logger.info({ fingerprint, pgvector: version, moved, ...sizes }, 'pgvector tables ready');
  const search = {
    image: pgvectorSearch(db, tables.image, config.hnsw.ef, sizes),
    caption: pgvectorSearch(db, tables.caption, config.hnsw.ef, sizes),
  };
  return {
    name: 'pgvector',
    fingerprint,
    dims,
    search,
    moved,
    add: () => undefined,
    markDeleted: () => 0,
    checkpoint: () => Promise.resolve(false),
    checkpointStatus: () => ({ generation: 0, consecutiveFailures: 0, failuresTotal: 0 }),
    sizes: () => ({ ...sizes }),
    close: () => Promise.resolve(),
  };
}

/** Installs the extension where the server has it; refuses, naming the fix, where it does not. */
export async function ensureExtension(
  repo: Pick<PgvectorRepository, 'installedVersion' | 'availableVersion' | 'createExtension'>,
): Promise<string> {
  let installed = await repo.installedVersion();
  if (installed === undefined) {
    const available = await repo.availableVersion();
    if (available === undefined)
      throw new AppError(
        'VECTOR_BACKEND_UNAVAILABLE',
        'VECTOR_BACKEND=pgvector, but this PostgreSQL server has no pgvector extension: install pgvector ' +
          `>= ${MIN_PGVECTOR} on the server (https://github.com/pgvector/pgvector#installation, e.g. the ` +
          'postgresql-NN-pgvector package from apt.postgresql.org), or use VECTOR_BACKEND=hnsw',
      );
    if (olderThan(available, MIN_PGVECTOR))
      throw new AppError(
        'VECTOR_BACKEND_UNAVAILABLE',
        `VECTOR_BACKEND=pgvector needs pgvector >= ${MIN_PGVECTOR} (iterative index scans); this server ` +
          `offers ${available}: install a newer pgvector, or use VECTOR_BACKEND=hnsw`,
      );
    try {
      await repo.createExtension();
    } catch (cause) {
      throw new AppError(
        'VECTOR_BACKEND_UNAVAILABLE',
        `Could not create the pgvector extension (${(cause as Error).message}): run ` +
          '`CREATE EXTENSION vector;` in this database as a user allowed to, or use VECTOR_BACKEND=hnsw',
        { cause },
      );
    }
    installed = (await repo.installedVersion())!;
  }
  if (olderThan(installed, MIN_PGVECTOR))
    throw new AppError(
      'VECTOR_BACKEND_UNAVAILABLE',
      `VECTOR_BACKEND=pgvector needs pgvector >= ${MIN_PGVECTOR} (iterative index scans); this database ` +
        `has ${installed}: install pgvector ${MIN_PGVECTOR} or later on the server, then run ` +
        '`ALTER EXTENSION vector UPDATE;`, or use VECTOR_BACKEND=hnsw',
    );
  return installed;
}

export function olderThan(version: string, minimum: string): boolean {
  const parse = (v: string) => v.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const [a, b] = [parse(version), parse(minimum)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  }
  return false;
}

/** Copies the bytea vectors the table lacks (no re-embedding): the move into pgvector. */
async function moveVectors(db: Db, table: PgvectorTable): Promise<number> {
  const repo = new PgvectorRepository(db);
  const vectors = new VectorsRepository(db);
  let moved = 0;
  let afterId = 0;
  for (;;) {
    const ids = await repo.missingIds(table, afterId, MOVE_BATCH);
    if (ids.length === 0) return moved;
    const rows = await vectors.get(table.kind, table.fingerprint, ids);
    await repo.upsert(
      table,
      ids.filter((id) => rows.has(id)).map((id) => ({ id, vector: rows.get(id)! })),
    );
    moved += rows.size;
    afterId = ids[ids.length - 1]!;
  }
}

function pgvectorSearch(
  db: Db,
  table: PgvectorTable,
  ef: number,
  sizes: Record<VectorKind, number>,
): VectorSearch {
  const repo = new PgvectorRepository(db);
  const filterIds = (filter: ImageFilter, limit: number) =>
    table.kind === 'image'
      ? new ImagesRepository(db).filterIds(filter, limit)
      : new CaptionsRepository(db).filterIds(filter, limit);
  return {
    implementation: 'pgvector',
    async count() {
      sizes[table.kind] = await repo.countLive(table);
      return sizes[table.kind];
    },
    async knn(query, k, { filter, exactThreshold }) {
      if (k <= 0) return { results: [], strategy: 'pgvector' };
      // A filter with no condition beyond "live" is no filter (imageFilterSql always adds that one).
      const f = filter && imageFilterSql(filter, 'i', []).length > 1 ? filter : undefined;
      if (f) {
        // A small allowed set: scoring it whole is cheaper than a graph walk that skips most rows.
        const small = await filterIds(f, exactThreshold + 1);
        if (small.length <= exactThreshold)
          return { results: await repo.exactNearest(table, query, k, f, small), strategy: 'pgvector-exact' };
      }
      const n = k + SLACK;
      const rows = await db.transaction((tx) =>
        new PgvectorRepository(tx).nearest(table, query, n, f, { efSearch: Math.max(ef, n) }),
      );
      // Short: fewer than n items pass (a small collection), or the scan stopped at its memory
      // limit before finding them. The exact answer is right either way.
      if (rows.length < n)
        return { results: await repo.exactNearest(table, query, k, f), strategy: 'pgvector-exact' };
      return { results: byScore(rows).slice(0, k), strategy: f ? 'pgvector-filtered' : 'pgvector' };
    },
  };
}

function byScore(hits: SearchHit[]): SearchHit[] {
  return hits.sort((a, b) => b.score - a.score || a.id - b.id);
}
