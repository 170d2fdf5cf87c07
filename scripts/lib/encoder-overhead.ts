import type { Config, Profile } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { decodeImage } from '../../src/media/image-decode.ts';
import { createEmbedder } from '../../src/models/embedder.ts';
import { loadProjection } from '../../src/models/projection.ts';
import type { Encoders } from '../../src/models/types.ts';
import { openBareOrt } from './bare-ort.ts';

export interface OverheadRow {
  profile: Profile;
  modality: 'text' | 'image';
  batch: number;
  /** Items/s through the whole path: tokenise or decode+preprocess, ORT, pooling, projection. */
  fullPerS: number;
  /** Items/s of a bare session.run on tensors made beforehand, same batch. */
  bareOrtPerS: number;
  ratio: number;
}

/**
 * Our encode path against bare ORT, batch by batch, the two taking turns within each round so
 * load from other processes hits both alike. Rates are each one's best round; the ratio is the
 * median of the rounds' paired ratios.
 */
export async function measureOverhead(
  config: Config,
  profile: Profile,
  encoders: Encoders,
  logger: Logger,
  input: { captions: readonly string[]; images: readonly Buffer[] },
  batches: readonly number[],
  options: { minMs: number; rounds: number },
): Promise<OverheadRow[]> {
  const projection = await loadProjection({ ...config, profile }, encoders, logger);
  const bare = await openBareOrt(
    config,
    profile,
    logger,
    input.captions,
    batches,
    encoders.image.preprocess.cropHeight,
  );
  try {
    const embedder = createEmbedder(encoders, projection);
    const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
    const full = {
      text: async (n: number) => {
        await embedder.embedTexts(input.captions.slice(0, n));
      },
      image: async (n: number) => {
        const bytes = input.images.slice(0, n);
        const pixels = await Promise.all(bytes.map((b) => decodeImage(b, embedder.preprocess, limits)));
        await embedder.embedPixels(pixels);
      },
    };
    const rows: OverheadRow[] = [];
    for (const modality of ['text', 'image'] as const) {
      for (const batch of batches) {
        await full[modality](batch); // warm-up
        await bare[modality](batch);
        let best = { full: 0, bare: 0 };
        const ratios: number[] = [];
        for (let round = 0; round < options.rounds; round++) {
          const f = await rate(() => full[modality](batch), batch, options.minMs / options.rounds);
          const b = await rate(() => bare[modality](batch), batch, options.minMs / options.rounds);
          best = { full: Math.max(best.full, f), bare: Math.max(best.bare, b) };
          ratios.push(f / b);
        }
        process.stderr.write(
          `  ${profile} ${modality} batch ${batch}: full ${best.full.toFixed(1)}/s, bare ORT ${best.bare.toFixed(1)}/s\n`,
        );
        rows.push({
          profile,
          modality,
          batch,
          fullPerS: Number(best.full.toFixed(1)),
          bareOrtPerS: Number(best.bare.toFixed(1)),
          // The two runs of one round meet the same load: the median of those paired ratios
          // moves less on a shared machine than a ratio of bests taken from different rounds.
          ratio: Number(median(ratios).toFixed(3)),
        });
      }
    }
    return rows;
  } finally {
    await bare.close();
    await projection.close();
  }
}

async function rate(run: () => Promise<void>, batch: number, ms: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  do {
    await run();
    done += batch;
  } while (performance.now() - started < ms);
  return (done * 1000) / (performance.now() - started);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
