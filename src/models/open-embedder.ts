import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { createEmbedder } from './embedder.ts';
import { loadEncoders } from './load.ts';
import { loadProjection, type LoadedProjection } from './projection.ts';
import type { Embedder, Encoders } from './types.ts';

/**
 * The current models (encoders of the configured profile + the trained or initial projection) as
 * one embedder. What they hold is released by the functions pushed onto `closers`, in reverse.
 */
export async function openEmbedder(
  config: Config,
  logger: Logger,
  closers: (() => Promise<unknown>)[],
): Promise<{ encoders: Encoders; projection: LoadedProjection; embedder: Embedder }> {
  const encoders = await loadEncoders(config, logger);
  closers.push(() => encoders.close());
  const projection = await loadProjection(config, encoders, logger);
  closers.push(() => projection.close());
  return { encoders, projection, embedder: createEmbedder(encoders, projection) };
}
