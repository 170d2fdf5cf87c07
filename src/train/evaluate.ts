import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { loadEncoders } from '../models/load.ts';
import {
  activeProjectionDir,
  createInitialWeights,
  initialFingerprint,
  projectionDir,
  projectionMismatch,
  readProjection,
  startOf,
  type ProjectionStart,
} from '../models/projection.ts';
import type { Encoders } from '../models/types.ts';
import { scoreSubset } from './fit.ts';
import type { RetrievalScores } from './metrics.ts';
import type { PairedDataOptions, Split } from './paired-data.ts';
import { selectSplit } from './subset.ts';
import { pairedFeatures, runtimeOf } from './train-projection.ts';
import { rejectedDir } from './zero-shot-gate.ts';

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
  /** `identity`: `untrained` is the zero-shot projection and `trained` the active fine-tune. */
  start: ProjectionStart;
  /** Absent when no trained projection exists yet. */
  trained?: RetrievalScores & { fingerprint: string };
  untrained: RetrievalScores & { fingerprint: string };
  /** A fine-tune that lost to zero-shot when trained, kept in `rejected/` and not in use. */
  rejected?: RetrievalScores & { fingerprint: string; reason?: string };
  /**
   * Stored projections the engine would refuse with these encoders (loadProjection's check):
   * named here and not scored, since the engine serves the initial projection instead.
   */
  refused?: { fingerprint: string; dir: string; reason: string }[];
}

async function requireProjection(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory())
    throw new AppError(
      'MODEL_MISSING',
      `--projection ${dir} ${info ? 'is not a folder' : 'does not exist'}: give the folder \`npm run train\` wrote (DATA_DIR/projections/<profile>)`,
    );
  if ((await readProjection(dir)) === undefined && (await readProjection(rejectedDir(dir))) === undefined)
    throw new AppError(
      'MODEL_MISSING',
      `--projection ${dir} holds no projection (no weights, no active version, nothing rejected): give the folder \`npm run train\` wrote (DATA_DIR/projections/<profile>)`,
    );
}

/**
 * Scores the trained projection and the initial one (zero-shot identity for a pre-aligned
 * profile, seeded random otherwise) side by side on one split, ranking by exact inner product
 * over every vector of the split.
 */
export async function evaluate(
  config: Config,
  options: EvaluateOptions,
  logger: Logger,
): Promise<Evaluation> {
  // A folder the operator named must hold a projection: scoring only the untrained one instead
  // would answer a question nobody asked. Checked before minutes of encoding.
  if (options.projectionDir !== undefined) await requireProjection(options.projectionDir);
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
    const start = startOf(config.profile);
    const initial = createInitialWeights({
      textDims: encoders.text.dims,
      imageDims: encoders.image.dims,
      seed: config.seed,
      start,
    });
    const untrained = {
      fingerprint: initialFingerprint(initial, config.seed, start),
      ...(await scoreSubset(initial, subset, runtime)),
    };
    const dir = options.projectionDir ?? projectionDir(config);
    const refused: NonNullable<Evaluation['refused']> = [];
    // The engine's own check: a projection fitted to other encoders is not what it would serve.
    const usable = async (from: string) => {
      const found = await readProjection(from);
      const mismatch = found === undefined ? undefined : projectionMismatch(found, encoders);
      if (found === undefined || mismatch === undefined) return found;
      refused.push({ fingerprint: found.header.fingerprint, dir: from, reason: mismatch.reason });
      logger.warn(
        { dir: from, fingerprint: found.header.fingerprint, ...mismatch },
        'not scoring a projection the engine would refuse: run `npm run train` again',
      );
      return undefined;
    };
    const stored = await usable(dir);
    const result: Evaluation = {
      split,
      images: subset.imageCaptions.length,
      captions: subset.captionImage.length,
      start,
      untrained,
    };
    if (stored !== undefined) {
      result.trained = {
        fingerprint: stored.header.fingerprint,
        ...(await scoreSubset(stored.weights, subset, runtime)),
      };
    }
    const rejected = await usable(rejectedDir(dir));
    if (refused.length > 0) result.refused = refused;
    if (stored === undefined && rejected === undefined) {
      logger.warn(
        start === 'identity'
          ? 'no fine-tuned projection found; only zero-shot is scored'
          : 'no trained projection found; only the untrained one is scored',
      );
    }
    if (rejected !== undefined) {
      const reason = await readReason(rejectedDir(dir));
      result.rejected = {
        fingerprint: rejected.header.fingerprint,
        ...(reason ? { reason } : {}),
        ...(await scoreSubset(rejected.weights, subset, runtime)),
      };
    }
    return result;
  } finally {
    if (options.encoders === undefined) await encoders.close();
  }
}

/** The gate's sentence from the rejected fine-tune's card, when the card is there and readable. */
async function readReason(dir: string): Promise<string | undefined> {
  try {
    const from = await activeProjectionDir(dir);
    const card = JSON.parse(await readFile(path.join(from, 'card.json'), 'utf8')) as { reason?: unknown };
    return typeof card.reason === 'string' ? card.reason : undefined;
  } catch {
    // The card only explains; the weights were verified by readProjection.
    return undefined;
  }
}
