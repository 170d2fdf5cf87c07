import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { loadConfig, type Profile } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { decodeImage } from '../src/media/image-decode.ts';
import { loadEncoders } from '../src/models/load.ts';
import { partDir, PROFILES } from '../src/models/profiles.ts';
import type { Encoders, PixelTensor } from '../src/models/types.ts';
import { checkOutputPath, runCli, wholeNumber } from './lib/cli.ts';

/**
 * Encoder throughput: captions/s and images/s at batch 1, 8 and 32, for the tiny profile and
 * every other profile whose files are present, measured side by side in one process. Decoding
 * is done before timing: this measures the ORT encoders (plus tokenisation and pooling).
 * metric = tiny images/s at batch 32 over images/s at batch 1.
 */
const program = new Command('bench:encoders')
  .description('Benchmark text and image encoder throughput at batch 1, 8 and 32')
  .option('--items <n>', 'captions and images per measurement', wholeNumber, 256)
  .option('--min-ms <ms>', 'time per batch size, split over 3 rounds', wholeNumber, 1500)
  .option('--run-batch <n>', "largest batch per ORT run (default: the encoders' own choice)", (v) =>
    Number.parseInt(v, 10),
  )
  .option('--json <path>', 'also write the result as JSON');

interface Options {
  items: number;
  minMs: number;
  runBatch?: number;
  json?: string;
}

const BATCHES = [1, 8, 32] as const;
const TARGET = 3;
const ROUNDS = 3;

interface Row {
  profile: Profile;
  modality: 'text' | 'image';
  dims: number;
  perSecond: Record<`batch${(typeof BATCHES)[number]}`, number>;
  batch32OverBatch1: number;
}

runCli(async () => {
  const o = program.parse().opts<Options>();
  await checkOutputPath(o.json);
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const profiles = (Object.keys(PROFILES) as Profile[]).filter(
    (p) =>
      p === 'tiny' ||
      [
        ...PROFILES[p].text.files.map((f) => path.join(partDir(config, p, 'text'), f)),
        ...PROFILES[p].image.files.map((f) => path.join(partDir(config, p, 'image'), f)),
      ].every((f) => existsSync(f)),
  );
  const captions = makeCaptions(o.items);
  const rows: Row[] = [];
  for (const profile of profiles) {
    const runBatch = o.runBatch === undefined ? {} : { batchSize: o.runBatch };
    const encoders = await loadEncoders(config, logger, { profile, text: runBatch, image: runBatch });
    try {
      const pixels = await makePixels(encoders, o.items);
      rows.push(
        await measure(profile, 'text', encoders.text.dims, captions, (b) => encoders.text.encode(b), o.minMs),
      );
      rows.push(
        await measure(
          profile,
          'image',
          encoders.image.dims,
          pixels,
          (b) => encoders.image.encode(b),
          o.minMs,
        ),
      );
    } finally {
      await encoders.close();
    }
  }

  const header = ['profile', 'modality', 'dims', ...BATCHES.map((b) => `batch ${b} /s`), 'b32/b1'];
  const table = rows.map((r) => [
    r.profile,
    r.modality === 'text' ? 'captions' : 'images',
    String(r.dims),
    ...BATCHES.map((b) => r.perSecond[`batch${b}`].toFixed(1)),
    `${r.batch32OverBatch1.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(
    `encoder throughput, ${o.items} items per measurement, device=${config.device}, intra-op threads=${config.ort.intraOpThreads || 'default'}`,
  );
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const t of table) console.log(line(t));

  const tinyImages = rows.find((r) => r.profile === 'tiny' && r.modality === 'image')!;
  const value = Number(tinyImages.batch32OverBatch1.toFixed(3));
  console.log(`\nmetric images_per_s_batch32_over_batch1 = ${value} (target ${TARGET})`);
  if (o.json) {
    await writeFile(
      o.json,
      `${JSON.stringify({ metric: 'images_per_s_batch32_over_batch1', value, target: TARGET, rows }, null, 2)}\n`,
    );
  }
});

async function measure<T>(
  profile: Profile,
  modality: 'text' | 'image',
  dims: number,
  items: readonly T[],
  encode: (batch: readonly T[]) => Promise<unknown>,
  minMs: number,
): Promise<Row> {
  const perSecond = { batch1: 0, batch8: 0, batch32: 0 };
  for (const size of BATCHES) await encode(items.slice(0, size)); // warm-up: first runs allocate
  // Batch sizes take turns over several rounds and each keeps its best round, so a burst of load
  // from other processes hits all of them alike instead of skewing the ratio.
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of BATCHES) {
      let done = 0;
      const started = performance.now();
      do {
        for (let i = 0; i + size <= items.length; i += size) {
          await encode(items.slice(i, i + size));
          done += size;
        }
      } while (performance.now() - started < minMs / ROUNDS);
      const rate = (done * 1000) / (performance.now() - started);
      perSecond[`batch${size}`] = Math.max(perSecond[`batch${size}`], rate);
    }
  }
  return { profile, modality, dims, perSecond, batch32OverBatch1: perSecond.batch32 / perSecond.batch1 };
}

/** Captions like the synthetic data set's, varied so batches pad to different lengths. */
function makeCaptions(n: number): string[] {
  const colours = ['red', 'crimson', 'blue', 'navy', 'green', 'yellow', 'purple', 'orange', 'pink', 'grey'];
  const shapes = ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond', 'cross', 'ring'];
  const places = [
    'at the top left',
    'in the centre',
    'at the bottom right',
    'on the left',
    'near the upper edge',
  ];
  return Array.from({ length: n }, (_, i) => {
    const one = `a ${i % 2 ? 'small' : 'large'} ${colours[i % colours.length]} ${shapes[i % shapes.length]} ${places[i % places.length]}`;
    return i % 3 === 0
      ? `${one} and a ${colours[(i + 3) % colours.length]} ${shapes[(i + 5) % shapes.length]} on a white background`
      : one;
  });
}

/** Decoded synthetic images at the encoder's input size (decoding is not timed). */
async function makePixels(encoders: Encoders, n: number): Promise<PixelTensor[]> {
  const spec = encoders.image.preprocess;
  const limits = { maxBytes: 1 << 26, maxPixels: 1 << 26 };
  const distinct = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const png = await sharp({
        create: {
          width: 96,
          height: 80,
          channels: 3,
          background: { r: (i * 53) % 256, g: (i * 97) % 256, b: (i * 31) % 256 },
        },
      })
        .composite([
          {
            input: await sharp({ create: { width: 24, height: 24, channels: 3, background: '#ffffff' } })
              .png()
              .toBuffer(),
            left: (i * 7) % 60,
            top: (i * 5) % 50,
          },
        ])
        .png()
        .toBuffer();
      return decodeImage(png, spec, limits);
    }),
  );
  return Array.from({ length: n }, (_, i) => distinct[i % distinct.length]!);
}
