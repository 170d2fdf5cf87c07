export type { Connection, Db, Queryable } from './db.ts';
export { openStore, type Store, type OpenStoreOptions } from './open-store.ts';
export { migrate, readMigrations } from './migrate.ts';
export { ImagesRepository, type ImageRecord, type NewImage } from './images.repository.ts';
export { CaptionsRepository, type CaptionRecord } from './captions.repository.ts';
export { VectorsRepository, encodeVector, decodeVector, type VectorKind } from './vectors.repository.ts';
export { IngestRepository, type ItemOutcome, type ItemStatus } from './ingest.repository.ts';
export type { ImageFilter } from './image-filter.ts';
export { IdempotencyRepository, type StoredAnswer } from './idempotency.repository.ts';
