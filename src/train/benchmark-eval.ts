import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { loadEncoders } from '../models/load.ts';
import {
  createInitialProjection,
  loadProjection,
  startOf,
  type LoadedProjection,
} from '../models/projection.ts';
import type { Encoders } from '../models/types.ts';
import {
  BENCHMARKS,
  benchmarkScores,
  PUBLISHED,
  type BenchmarkName,
  type BenchmarkScores,
  type PublishedRow,
} from './benchmark.ts';
import type { PairedDataOptions } from './paired-data.ts';
import { selectSplit, type FeatureSubset } from './subset.ts';
import { pairedFeatures, runtimeOf } from './train-projection.ts';

export interface BenchmarkOptions extends PairedDataOptions {
  benchmark: BenchmarkName;
  /** A Karpathy `dataset_*.json` (its test split is read), or a JSONL manifest with `metadata.split`. */
  dataPath: string;
  /** Reuse loaded encoders (tests); closed by the caller. @default loaded from the config */
  encoders?: Encoders;
}

export interface BenchmarkRow extends BenchmarkScores {
  projection: string;
  fingerprint: string;
}

export interface BenchmarkResult {
  benchmark: BenchmarkName;
  profile: string;
  images: number;
  captions: number;
  /** The projection the engine serves, then (when it is a trained one) the initial projection. */
  rows: BenchmarkRow[];
  published: PublishedRow[];
  /** Why these numbers are not comparable to the published ones, when they are not. */
  notes: string[];
}

/**
 * The published protocol on the test split: frozen-encoder features from the on-disk feature
 * cache (a second evaluation of another projection only re-projects), then the active projection
 * (the one `npm run start` would load, with the same encoder checks) and the initial one.
 */
export async function evaluateBenchmark(
  config: Config,
  options: BenchmarkOptions,
  logger: Logger,
): Promise<BenchmarkResult> {
  const spec = BENCHMARKS[options.benchmark];
  const encoders = options.encoders ?? (await loadEncoders(config, logger));
  try {
    // Only the test entries of a Karpathy file are encoded: 5,000 images, not 123,000.
    const dataOptions = { ...options, karpathySplit: options.karpathySplit ?? 'test' } as const;
    const { features } = await pairedFeatures(config, encoders, dataOptions, logger);
    const subset = selectSplit(features, 'test');
    const images = subset.imageCaptions.length;
    if (images < spec.folds || images % spec.folds !== 0) {
      throw new AppError(
        'INVALID_INPUT',
        `${options.benchmark} needs a test split that cuts into ${spec.folds} equal folds; ${options.dataPath} has ${images} test images`,
      );
    }
    const notes: string[] = [];
    if (images !== spec.images) {
      notes.push(
        `${images} test images where the published protocol has ${spec.images}: not comparable to the published rows`,
      );
    }
    const runtime = runtimeOf(config, logger);
    const projections: [string, LoadedProjection][] = [];
    const active = await loadProjection(config, encoders, logger);
    const aligned = startOf(config.profile) === 'identity';
    projections.push([
      active.trained ? (aligned ? 'fine-tuned' : 'trained') : aligned ? 'zero-shot' : 'untrained',
      active,
    ]);
    if (active.trained) {
      const start = startOf(config.profile);
      const initial = await createInitialProjection(
        { textDims: encoders.text.dims, imageDims: encoders.image.dims, seed: config.seed, start },
        runtime,
      );
      projections.push([aligned ? 'zero-shot' : 'untrained', initial]);
    }
    const rows: BenchmarkRow[] = [];
    for (const [name, projection] of projections) {
      try {
        rows.push({
          projection: name,
          fingerprint: projection.fingerprint,
          ...benchmarkScores(await project(projection, subset), spec.folds),
        });
      } finally {
        await projection.close();
      }
    }
    return {
      benchmark: options.benchmark,
      profile: config.profile,
      images,
      captions: subset.captionImage.length,
      rows,
      published: PUBLISHED[config.profile]?.[options.benchmark] ?? [],
      notes,
    };
  } finally {
    if (options.encoders === undefined) await encoders.close();
  }
}

async function project(projection: LoadedProjection, subset: FeatureSubset) {
  return {
    dims: projection.dims,
    textVectors: await projection.projectText(subset.text, subset.captionImage.length),
    imageVectors: await projection.projectImage(subset.image, subset.imageCaptions.length),
    captionImage: subset.captionImage,
  };
}
