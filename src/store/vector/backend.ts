/**
 * Where the vectors are searched: `hnsw` (in-process hnswlib graphs, files under DATA_DIR, a read
 * model of the vector tables) or `pgvector` (HNSW indexes inside Postgres, filters in the same
 * SQL). Writers see one narrow interface; the engine sees `VectorSearch` per kind.
 */
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import type { Db } from '../db.ts';
import { openIndexes, type IndexSet } from './index-set.ts';
import { openPgvector, type PgvectorBackend } from './pgvector-backend.ts';

export type { VectorBackend, VectorBackendName } from './types.ts';

export interface OpenBackendOptions {
  config: Pick<Config, 'paths' | 'hnsw' | 'vectorBackend'>;
  db: Db;
  fingerprint: string;
  dims: number;
  logger: Logger;
  /** Rebuild from the vectors in Postgres (`npm run reindex`). @default false */
  rebuild?: boolean;
  /** See OpenIndexesOptions.allowMissingVectors. @default false */
  allowMissingVectors?: boolean;
  /** HNSW: write nothing under DATA_DIR (see OpenIndexesOptions.readOnly). @default false */
  readOnly?: boolean;
}

export type OpenedBackend = IndexSet | PgvectorBackend;

export function openVectorBackend(options: OpenBackendOptions): Promise<OpenedBackend> {
  return options.config.vectorBackend === 'pgvector' ? openPgvector(options) : openIndexes(options);
}
