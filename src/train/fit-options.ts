import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { ProjectionWeights } from '../models/projection.ts';

/**
 * Checks on the trainer's hyperparameters and numbers. A bad option is INVALID_INPUT naming every
 * bad option at once (as config.ts does for settings); a non-finite loss, feature or weight is
 * TRAINING_DIVERGED, so a diverged run never writes a weights file.
 */

const positiveInt = (max: number) => z.number().int().min(1).max(max);

/**
 * Bounds that catch typos, not taste: Adam moves each weight by about `lr` per step, so a rate
 * above 1 throws the weights far past any useful scale (1e30 saved 1e30 weights); decoupled
 * weight decay at or above 1 zeroes the weights every step.
 */
export const FitOptionsSchema = z.object({
  epochs: positiveInt(100_000).optional(),
  dims: positiveInt(65_536).optional(),
  hiddenDims: positiveInt(65_536).optional(),
  batchSize: positiveInt(1 << 20).optional(),
  lr: z.number().gt(0).max(1).optional(),
  weightDecay: z.number().min(0).lt(1).optional(),
  warmup: z.number().min(0).max(1).optional(),
  patience: positiveInt(100_000).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  temperature: z.number().gt(0).max(100).optional(),
});

export type CheckedFitOptions = z.infer<typeof FitOptionsSchema>;

/** Throws one INVALID_INPUT listing every bad option; `flag` maps an option to its CLI spelling. */
export function checkOptions<S extends z.ZodObject>(
  schema: S,
  options: Record<string, unknown>,
  flag: (key: string) => string = (key) => key,
): z.infer<S> {
  const known = Object.fromEntries(
    Object.keys(schema.shape)
      .filter((key) => options[key] !== undefined)
      .map((key) => [key, options[key]]),
  );
  const parsed = schema.safeParse(known);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (i) => `${flag(String(i.path[0]))}: ${i.message} (got ${String(known[String(i.path[0])])})`,
  );
  throw new AppError('INVALID_INPUT', `invalid training options:\n  - ${problems.join('\n  - ')}`, {
    details: { problems },
  });
}

export function checkFitOptions(options: Record<string, unknown>): CheckedFitOptions {
  return checkOptions(FitOptionsSchema, options);
}

/**
 * CLI strings to numbers. `Number('')` is 0 and `Number('abc')` NaN; both reach the schema as
 * they are so that it names them, instead of NaN flowing into the optimiser.
 */
export function numericFlags(raw: Record<string, string | undefined>): Record<string, number | undefined> {
  return Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [
      key,
      value === undefined ? undefined : value.trim() === '' ? Number.NaN : Number(value),
    ]),
  );
}

/** The first non-finite entry of `values`, as an index, or -1. */
function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** Features must be finite before training: NaN in, NaN out, whatever the learning rate. */
export function assertFiniteFeatures(name: string, values: Float32Array, dims: number): void {
  const at = firstNonFinite(values);
  if (at >= 0)
    throw new AppError(
      'TRAINING_DIVERGED',
      `the ${name} features hold a non-finite value (row ${Math.floor(at / dims)}): the encoder produced NaN or Infinity; check the inputs and the encoder, not --lr`,
    );
}

/**
 * Above this a weight has run away: standardised inputs and Adam's ~lr steps keep trained weights
 * within a few units, and the heads square their outputs, so 1e30 overflows float32 to NaN.
 */
export const MAX_WEIGHT = 1e6;

/** Checked before saving: a projection whose weights are non-finite or runaway is never written. */
export function assertFiniteWeights(w: ProjectionWeights, context: string): void {
  for (const side of ['text', 'image'] as const) {
    for (const [key, t] of Object.entries(w[side])) {
      if (!(t instanceof Float32Array)) continue;
      for (let i = 0; i < t.length; i++) {
        const v = t[i] as number;
        // mean / invStd come from the data, not the optimiser: only their finiteness is checked.
        const learned = key !== 'mean' && key !== 'invStd';
        if (!Number.isFinite(v) || (learned && Math.abs(v) > MAX_WEIGHT))
          throw new AppError(
            'TRAINING_DIVERGED',
            `training diverged ${context}: ${side}.${key}[${i}] = ${v}; lower --lr or check the features`,
          );
      }
    }
  }
  if (!Number.isFinite(w.logitScale))
    throw new AppError(
      'TRAINING_DIVERGED',
      `training diverged ${context}: the logit scale is ${w.logitScale}`,
    );
}
