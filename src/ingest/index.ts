export { runIngest, type IngestDeps, type IngestOptions } from './pipeline.ts';
export { ingestOne, type NewItem, type IngestOneResult } from './ingest-one.ts';
export { dryRunIngest } from './dry-run.ts';
export {
  openIngestContext,
  openReindexContext,
  openWorkerContext,
  type IngestContext,
  type ReindexContext,
  type WorkerContext,
} from './context.ts';
export { runWorker, type WorkerOptions, type WorkerTally } from './worker.ts';
export { enqueueSource, requireServer, type EnqueueSummary } from './work-queue.ts';
export { openEmbedder } from '../models/open-embedder.ts';
export type { IngestProgress, IngestSummary } from './progress.ts';
export type { ItemOutcome } from './items.ts';
export { reindex, type ReindexOptions, type ReindexSummary } from './reindex.ts';
