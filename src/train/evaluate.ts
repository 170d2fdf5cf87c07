import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { loadEncoders } from '../models/load.ts';
import {
  createInitialWeights,
  initialFingerprint,
  projectionDir,
  readProjection,
} from '../models/projection.ts';
import type { Encoders } from '../models/types.ts';
import { scoreSubset } from './fit.ts';
import type { RetrievalScores } from './metrics.ts';
import type { PairedDataOptions, Split } from './paired-data.ts';
import { selectSplit } from './subset.ts';
import { pairedFeatures, runtimeOf } from './train-projection.ts';

export interface EvaluateOptions extends PairedDataOptions {
  dataPath: string;
  /** @default 'test' */
  split?: Split | 'all';
  /** Folder of the trained projection. @default DATA_DIR/projections/<profile> */
  projectionDir?: string;
  encoders?: Encoders;
}

export interface Evaluation {
  split: string;
  images: number;
  captions: number;
  /** Absent when no trained projection exists yet. */
  trained?: RetrievalScores & { fingerprint: string };
  untrained: RetrievalScores & { fingerprint: string };
}

/**
 * Scores the trained projection and the seeded initial one side by side on one split, ranking
 * by exact inner product over every vector of the split.
 */
export async function evaluate(
  config: Config,
  options: EvaluateOptions,
  logger: Logger,
): Promise<Evaluation> {
  const encoders = options.encoders ?? (await loadEncoders(config, logger));
  try {
    const { features } = await pairedFeatures(config, encoders, options, logger);
    const split = options.split ?? 'test';
    const subset = selectSplit(features, split);
    if (subset.imageCaptions.length < 2) {
      throw new AppError(
        'INVALID_INPUT',
        `split "${split}" of ${options.dataPath} has ${subset.imageCaptions.length} images; evaluation needs at least 2`,
      );
    }
    const runtime = runtimeOf(config, logger);
    // The same initial projection loadProjection() falls back to.
    const initial = createInitialWeights({
      textDims: encoders.text.dims,
      imageDims: encoders.image.dims,
      seed: config.seed,
    });
    const untrained = {
      fingerprint: initialFingerprint(initial, config.seed),
      ...(await scoreSubset(initial, subset, runtime)),
    };
    const stored = await readProjection(options.projectionDir ?? projectionDir(config));
    const result: Evaluation = {
      split,
      images: subset.imageCaptions.length,
      captions: subset.captionImage.length,
      untrained,
    };
    if (stored !== undefined) {
      result.trained = {
        fingerprint: stored.header.fingerprint,
        ...(await scoreSubset(stored.weights, subset, runtime)),
      };
    } else {
      logger.warn('no trained projection found; only the untrained one is scored');
    }
    return result;
  } finally {
    if (options.encoders === undefined) await encoders.close();
  }
}
