export { runIngest, type IngestDeps, type IngestOptions } from './pipeline.ts';
export { ingestOne, type NewItem, type IngestOneResult } from './ingest-one.ts';
export { dryRunIngest } from './dry-run.ts';
export { openIngestContext, openReindexContext, type IngestContext, type ReindexContext } from './context.ts';
export { openEmbedder } from '../models/open-embedder.ts';
export type { IngestProgress, IngestSummary } from './progress.ts';
export type { ItemOutcome } from './items.ts';
export { reindex, type ReindexOptions, type ReindexSummary } from './reindex.ts';
