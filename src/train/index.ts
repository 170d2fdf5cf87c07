/**
 * The training stage's public surface: synthetic paired data, the contrastive trainer and the
 * retrieval evaluation. The projection itself (weights, ORT heads, loading) is in
 * src/models/projection.ts, below this layer, because ingest and search use it too.
 */
export {
  generateSampleData,
  ensureSampleData,
  MANIFEST_NAME,
  DEFAULT_SAMPLE_IMAGES,
  type SampleDataOptions,
  type ManifestLine,
} from './synthetic/generate.ts';
export {
  trainProjection,
  ensureTrainingData,
  DEFAULT_TRAINING_IMAGES,
  type TrainProjectionOptions,
  type ProjectionCard,
} from './train-projection.ts';
export { evaluate, type EvaluateOptions, type Evaluation } from './evaluate.ts';
export { judgeFineTune, rejectedDir, type GateVerdict } from './zero-shot-gate.ts';
export { FIT_DEFAULTS, type FitOptions, type StepEvent, type EpochEvent } from './fit.ts';
export { loadPairedData, type PairedData, type PairedItem, type Split } from './paired-data.ts';
export type { RetrievalScores, DirectionScores } from './metrics.ts';
