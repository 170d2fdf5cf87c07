/**
 * Model CLI:
 *   npm run models -- tiny [--seed N] [--size base]  write the tiny (or base-size) profile, deterministic from the seed
 *   npm run models -- fetch <profile>         download a profile from the Hugging Face hub
 *   npm run models -- encode <dir> [--limit]  encode a folder of images and some captions, with timings
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { decodeMany } from '../src/media/image-decode.ts';
import { fetchProfile } from '../src/models/hub.ts';
import { loadEncoders } from '../src/models/load.ts';
import { PROFILES } from '../src/models/profiles.ts';
import { computeTable } from '../src/models/tiny/compute-table.ts';
import { TINY_PROFILE, writeTinyModels, type TinySize } from '../src/models/tiny/generate.ts';
import { runCli } from './lib/cli.ts';
import { downloadProgress } from './lib/download-progress.ts';

const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.jxl',
]);

const program = new Command('models').description('generate, fetch and try the encoder models');

program
  .command('tiny')
  .description(
    'write the tiny profile to DATA_DIR/models/tiny (same seed -> identical files); --size base writes ' +
      'BERT-base / ResNet-50-sized stand-ins to DATA_DIR/models/tiny-base (MODELS=tiny-base), for benchmarks',
  )
  .option('--seed <n>', 'generator seed (default: SEED or 42)')
  .option('--size <size>', 'tiny | base', 'tiny')
  .action(async (opts: { seed?: string; size: string }) => {
    if (opts.size !== 'tiny' && opts.size !== 'base')
      throw new AppError('INVALID_INPUT', `--size must be tiny or base, got ${opts.size}`);
    const size: TinySize = opts.size;
    const config = loadConfig({ overrides: { SEED: opts.seed } });
    const dir = path.join(config.paths.models, TINY_PROFILE[size]);
    const started = performance.now();
    const sizes = await writeTinyModels(dir, config.seed, size);
    const ms = Math.round(performance.now() - started);
    console.log(`${TINY_PROFILE[size]} models (seed ${config.seed}) written to ${dir} in ${ms} ms`);
    for (const [file, bytes] of Object.entries(sizes))
      console.log(`  ${file.padEnd(34)} ${bytes.toLocaleString('en-US').padStart(12)} bytes`);
    console.log('\nCompute per item (multiply-accumulates; FLOPs = 2 x MACs):');
    for (const row of computeTable(size))
      console.log(
        `  ${row.model.padEnd(44)} ${row.gmacs.toFixed(3).padStart(8)} GMACs ${(2 * row.gmacs).toFixed(2).padStart(7)} GFLOPs   ${row.real}`,
      );
  });

program
  .command('fetch')
  .argument('<profile>', `one of ${Object.keys(PROFILES).join(', ')}`)
  .option('--hub-url <url>', 'Hugging Face endpoint (default: HF_ENDPOINT or https://huggingface.co)')
  .option(
    '--local-dir <dir>',
    'copy the files to <dir>/<profile>/ (for an air-gapped machine) instead of DATA_DIR',
  )
  .option(
    '--stall-timeout <s>',
    'seconds without data before a transfer is resumed (default: HF_HUB_DOWNLOAD_TIMEOUT or 10)',
  )
  .option('--retries <n>', 'resumptions of a failed transfer before giving up', '5')
  .description('download a profile into DATA_DIR/models/<profile>, sharing the Hugging Face hub cache')
  .action(
    async (
      profile: string,
      opts: { hubUrl?: string; localDir?: string; stallTimeout?: string; retries: string },
    ) => {
      const config = loadConfig({
        overrides: { MODELS: profile, HF_ENDPOINT: opts.hubUrl, HF_HUB_DOWNLOAD_TIMEOUT: opts.stallTimeout },
      });
      const logger = createLogger(config.logLevel);
      const retries = Number(opts.retries);
      if (!Number.isInteger(retries) || retries < 0)
        throw new AppError('INVALID_INPUT', `--retries must be a whole number >= 0, got ${opts.retries}`);
      const files = await fetchProfile(config, config.profile, {
        localDir: opts.localDir,
        retries,
        progress: downloadProgress(),
        logger,
      });
      for (const f of files) {
        const bytes =
          f.bytes !== undefined
            ? ` (${f.bytes} bytes${f.resumedFrom ? `, resumed at ${f.resumedFrom}` : ''})`
            : '';
        console.log(`${f.status.padEnd(10)} ${f.path}${bytes}`);
      }
      console.log(`hub cache: ${config.hub.cacheDir}`);
      if (opts.localDir !== undefined)
        console.log(
          `copy ${path.join(path.resolve(opts.localDir), config.profile)} to DATA_DIR/models/ on the target machine`,
        );
    },
  );

program
  .command('encode')
  .argument('<dir>', 'folder of images (searched recursively)')
  .option('--limit <n>', 'at most this many images', '64')
  .option('--profile <profile>', 'model profile (default: MODELS)')
  .description('decode and encode a folder of images and a few captions, printing shapes and timings')
  .action(async (dir: string, opts: { limit: string; profile?: string }) => {
    const config = loadConfig({ overrides: { MODELS: opts.profile } });
    const logger = createLogger(config.logLevel);
    const encoders = await loadEncoders(config, logger);
    try {
      const files = (await listImages(path.resolve(dir))).slice(0, Number(opts.limit));
      let t = performance.now();
      const bytes = await Promise.all(files.map((f) => readFile(f)));
      const decoded = await decodeMany(
        bytes,
        encoders.image.preprocess,
        { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels },
        config.ingest.concurrency,
      );
      const decodeMs = performance.now() - t;
      decoded.forEach((r, i) => {
        if (!r.ok) console.log(`failed   ${files[i]}: ${r.error.code}: ${r.error.message}`);
      });
      const pixels = decoded.flatMap((r) => (r.ok ? [r.value] : []));
      t = performance.now();
      const features = await encoders.image.encode(pixels);
      const encodeMs = performance.now() - t;
      console.log(
        `profile ${encoders.profile}: ${files.length} files, ${pixels.length} decoded in ${decodeMs.toFixed(0)} ms, ` +
          `image features [${pixels.length}, ${encoders.image.dims}] (${features.length} floats) in ${encodeMs.toFixed(0)} ms`,
      );
      const captions = [
        'a photo of a landscape',
        'a red circle on a white background',
        'mountains and a lake at sunset',
      ];
      t = performance.now();
      const text = await encoders.text.encode(captions);
      console.log(
        `text features [${captions.length}, ${encoders.text.dims}] in ${(performance.now() - t).toFixed(0)} ms, truncated ${text.truncated}`,
      );
      console.log(`fingerprints: text ${encoders.text.fingerprint}, image ${encoders.image.fingerprint}`);
    } finally {
      await encoders.close();
    }
  });

async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()))
      out.push(path.join(entry.parentPath, entry.name));
  }
  return out.sort();
}

runCli(async () => {
  await program.parseAsync();
});
