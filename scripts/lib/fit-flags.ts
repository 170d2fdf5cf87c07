import { Option } from 'commander';
import type { z } from 'zod';
import { checkOptions, numericFlags } from '../../src/train/fit-options.ts';

/** The flag that sets each fit option, spelt alike by `train`, `train-classifier` and `eval-classifier`. */
const FIT_FLAGS: Record<string, string> = {
  epochs: '--epochs',
  dims: '--dims',
  hiddenDims: '--hidden',
  batchSize: '--batch',
  lr: '--lr',
  weightDecay: '--weight-decay',
  patience: '--patience',
  seed: '--seed',
};

/**
 * A training command's numeric flags through one schema (FitOptionsSchema extended with the
 * command's `own` options, each named with its flag), so one message lists every bad one and NaN
 * never reaches the optimiser. `opts` is commander's: `--weight-decay` arrives as `weightDecay`.
 */
export function checkFitFlags<S extends z.ZodObject>(
  schema: S,
  opts: Record<string, string | undefined>,
  own: Record<string, string>,
): z.infer<S> {
  const flagOf: Record<string, string> = { ...FIT_FLAGS, ...own };
  const raw = Object.fromEntries(
    Object.entries(flagOf).map(([key, flag]) => [key, opts[new Option(flag).attributeName()]]),
  );
  return checkOptions(schema, numericFlags(raw), (key) => flagOf[key] ?? key);
}
