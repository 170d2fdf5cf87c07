/**
 * Every vector backend behind the engine's seam (`VectorSearch`), each with the database that
 * answers its filters, and the writes the application makes around it: rows first, then the
 * backend told after the commit. pgvector runs on PGlite (there is no pgvector server package on
 * Debian 12), in-process and through the wire protocol.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { hnswSearch, hnswSearches } from '../../src/search/hnsw-search.ts';
import { CaptionsRepository } from '../../src/store/captions.repository.ts';
import type { Db } from '../../src/store/db.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import { openPgliteDb } from '../../src/store/pglite-db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openVectorBackend, type OpenedBackend } from '../../src/store/vector/backend.ts';
import { ExactIndex } from '../../src/store/vector/exact-index.ts';
import type { VectorSearch } from '../../src/store/vector/types.ts';
import { VectorsRepository } from '../../src/store/vectors.repository.ts';
import { openPgliteOverWire } from '../setup/pgvector-wire.ts';

export const FP = 'fp-backend-contract';
/** ef high enough that HNSW is exact at this size, after deletes too. */
export const HNSW = { m: 16, efConstruction: 200, ef: 400 };

export interface Subject {
  name: string;
  db: Db;
  search: VectorSearch;
  /** Images (with metadata) and their vectors, committed, then handed to the backend. */
  add(rows: { metadata: Record<string, unknown>; vector: Float32Array }[]): Promise<number[]>;
  /** Soft deletes, committed, then handed to the backend. */
  remove(ids: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

export interface SubjectFactory {
  name: string;
  open(dims: number): Promise<Subject>;
}

let sequence = 0;

async function writeRows(
  db: Db,
  rows: { metadata: Record<string, unknown>; vector: Float32Array }[],
): Promise<number[]> {
  return db.transaction(async (tx) => {
    const ids = await new ImagesRepository(tx).insertMany(
      rows.map((r) => ({
        sha256: (sequence++).toString(16).padStart(64, '0'),
        uri: `file:///img/${sequence}.png`,
        width: 10,
        height: 10,
        format: 'png',
        bytes: 100,
        metadata: r.metadata,
      })),
    );
    await new VectorsRepository(tx).upsert(
      'image',
      FP,
      ids.map((id, i) => ({ id, vector: rows[i]!.vector })),
    );
    return ids;
  });
}

async function softDelete(db: Db, ids: readonly number[]): Promise<void> {
  const images = new ImagesRepository(db);
  for (const id of ids) await images.softDelete(id);
}

/** A backend opened the way the application opens it (openVectorBackend), on `db`. */
async function viaBackend(
  name: string,
  vectorBackend: 'hnsw' | 'pgvector',
  db: Db,
  dims: number,
  closeDb: () => Promise<void>,
): Promise<Subject> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'backend-contract-'));
  const backend: OpenedBackend = await openVectorBackend({
    config: loadConfig({ env: { DATA_DIR: dir, VECTOR_BACKEND: vectorBackend, HNSW_EF: String(HNSW.ef) } }),
    db,
    fingerprint: FP,
    dims,
    logger: silentLogger,
  });
  const repositories = {
    images: new ImagesRepository(db),
    captions: new CaptionsRepository(db),
    vectors: new VectorsRepository(db),
  };
  const search =
    backend.name === 'pgvector'
      ? backend.search.image
      : hnswSearches({ image: backend.images, caption: backend.captions }, repositories, FP).image;
  return {
    name,
    db,
    search,
    async add(rows) {
      const ids = await writeRows(db, rows);
      backend.add(
        'image',
        ids,
        rows.map((r) => r.vector),
      );
      return ids;
    },
    async remove(ids) {
      await softDelete(db, ids);
      backend.markDeleted('image', ids);
    },
    async close() {
      await backend.close();
      await closeDb();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function pgliteInProcess(): Promise<{ db: Db; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'backend-contract-pg-'));
  const db = await openPgliteDb(dir);
  await migrate(db);
  return {
    db,
    async close() {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const subjects: SubjectFactory[] = [
  {
    name: 'hnsw (hnswlib, filter checked on PGlite)',
    async open(dims) {
      const { db, close } = await pgliteInProcess();
      return viaBackend(this.name, 'hnsw', db, dims, close);
    },
  },
  {
    name: 'exact (brute force, filter checked on PGlite)',
    async open(dims) {
      const { db, close } = await pgliteInProcess();
      const index = new ExactIndex(dims, 16);
      const images = new ImagesRepository(db);
      const search = hnswSearch({
        kind: 'image',
        index,
        vectors: new VectorsRepository(db),
        fingerprint: FP,
        filterIds: (filter, limit) => images.filterIds(filter, limit),
        filterAmong: (ids, filter) => images.filterAmong(ids, filter),
      });
      return {
        name: this.name,
        db,
        search,
        async add(rows) {
          const ids = await writeRows(db, rows);
          const flat = new Float32Array(rows.length * dims);
          rows.forEach((r, i) => flat.set(r.vector, i * dims));
          index.add(ids, flat);
          return ids;
        },
        async remove(ids) {
          await softDelete(db, ids);
          index.remove(ids);
        },
        close,
      };
    },
  },
  {
    name: 'pgvector on PGlite, in-process',
    async open(dims) {
      const { db, close } = await pgliteInProcess();
      return viaBackend(this.name, 'pgvector', db, dims, close);
    },
  },
  {
    name: 'pgvector on PGlite, through the wire protocol (pglite-socket + pg)',
    async open(dims) {
      const wire = await openPgliteOverWire();
      return viaBackend(this.name, 'pgvector', wire.db, dims, wire.close);
    },
  },
];
