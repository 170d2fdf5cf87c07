import path from 'node:path';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfig } from '../src/config.ts';
import { generateSampleData } from '../src/train/synthetic/generate.ts';
import { runCli } from './lib/cli.ts';

const program = new Command('sample-data')
  .description('Render a synthetic paired data set (shapes + captions) with a JSONL manifest')
  .option('--out <dir>', 'output folder (default DATA_DIR/samples)')
  .option('--n <count>', 'number of images', '2400')
  .option('--seed <seed>', 'random seed (default SEED)')
  .option('--captions <count>', 'captions per image', '2')
  .option('--data-dir <dir>', 'data directory (DATA_DIR)');

runCli(async () => {
  const opts = program
    .parse()
    .opts<{ out?: string; n: string; seed?: string; captions: string; dataDir?: string }>();
  const config = loadConfig({ overrides: { DATA_DIR: opts.dataDir, SEED: opts.seed } });
  const outDir = path.resolve(opts.out ?? config.paths.samples);
  const n = Number(opts.n);
  const bar = new SingleBar(
    { format: 'sample-data [{bar}] {value}/{total} images', hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(n, 0);
  const result = await generateSampleData({
    outDir,
    n,
    seed: config.seed,
    captionsPerImage: Number(opts.captions),
    onProgress: (done) => bar.update(done),
  });
  bar.stop();
  console.log(`wrote ${result.count} images and ${result.manifestPath}`);
});
