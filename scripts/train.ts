import { Command, Option } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { z } from 'zod';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { KARPATHY_SPLITS, type KarpathySplit } from '../src/media/sources/index.ts';
import { FIT_DEFAULTS } from '../src/train/fit.ts';
import { FitOptionsSchema } from '../src/train/fit-options.ts';
import {
  DEFAULT_TRAINING_IMAGES,
  ensureTrainingData,
  trainProjection,
} from '../src/train/train-projection.ts';
import { projectionDir, startOf } from '../src/models/projection.ts';
import { rejectedDir } from '../src/train/zero-shot-gate.ts';
import { checkOutputPath, writeJsonOutput, runCli } from './lib/cli.ts';
import { checkFitFlags } from './lib/fit-flags.ts';
import { trainingProgress } from './lib/train-progress.ts';

const program = new Command('train')
  .description(
    'Train the fusion projection (symmetric InfoNCE) on paired data and write it under DATA_DIR/projections/<profile>/',
  )
  .option(
    '--data <path>',
    'JSONL manifest, COCO captions JSON, Flickr30k results.csv or Karpathy dataset_*.json (default: the synthetic set DATA_DIR/samples-train, generated when missing)',
  )
  .option('--images <dir>', 'image folder (root) for COCO / Flickr30k / Karpathy files')
  .addOption(
    new Option(
      '--split <split>',
      'Karpathy files only: entries to read (default all: train and restval train, val validates)',
    ).choices([...KARPATHY_SPLITS]),
  )
  .option(
    '--train-images <n>',
    'size of the synthetic training set when --data is not given',
    String(DEFAULT_TRAINING_IMAGES),
  )
  .option('--epochs <n>', 'maximum epochs', String(FIT_DEFAULTS.epochs))
  .option(
    '--dims <n>',
    "shared-space dimensions (a pre-aligned profile keeps its encoders' width and a linear head)",
    String(FIT_DEFAULTS.dims),
  )
  .addOption(
    new Option('--head <kind>', 'projection head').choices(['mlp', 'linear']).default(FIT_DEFAULTS.head),
  )
  .option('--hidden <n>', 'MLP hidden width', String(FIT_DEFAULTS.hiddenDims))
  .option('--batch <n>', 'pairs per step', String(FIT_DEFAULTS.batchSize))
  .option(
    '--lr <rate>',
    `peak learning rate (default ${FIT_DEFAULTS.lr}; ${FIT_DEFAULTS.alignedLr} when fine-tuning a pre-aligned profile such as clip)`,
  )
  .option('--weight-decay <wd>', 'AdamW weight decay', String(FIT_DEFAULTS.weightDecay))
  .option('--patience <n>', 'epochs without validation gain before stopping', String(FIT_DEFAULTS.patience))
  .option('--seed <n>', 'random seed (default SEED)')
  .option('--out <dir>', 'write weights and card here instead of DATA_DIR/projections/<profile>')
  .option('--json <path>', 'also write the card as JSON here')
  .option('--data-dir <dir>', 'data directory (DATA_DIR)');

const TrainFlagsSchema = FitOptionsSchema.extend({ trainImages: z.number().int().min(2).max(10_000_000) });

runCli(async () => {
  const o = program.parse().opts<Record<string, string | undefined>>();
  await checkOutputPath(o['json']);
  const flags = checkFitFlags(TrainFlagsSchema, o, { trainImages: '--train-images' });
  const config = loadConfig({ overrides: { DATA_DIR: o['dataDir'], SEED: o['seed'] } });
  const logger = createLogger(config.logLevel);
  // Bars only on a terminal; piped output gets one line per epoch instead.
  const tty = process.stderr.isTTY === true;
  const bars = new MultiBar(
    { hideCursor: true, clearOnComplete: false, format: '{task} [{bar}] {value}/{total} {info}' },
    Presets.shades_classic,
  );
  let encodeBar: ReturnType<MultiBar['create']> | undefined;
  let trainBar: ReturnType<MultiBar['create']> | undefined;
  const progress = trainingProgress((line) =>
    tty ? bars.log(`${line}\n`) : process.stderr.write(`${line}\n`),
  );
  let dataPath = o['data'];
  if (dataPath === undefined) {
    const set = await ensureTrainingData(config, { n: flags.trainImages! });
    process.stderr.write(
      `${set.generated ? 'generated' : 'using'} the synthetic training set ${set.manifestPath} (${set.count} images)${set.replaced ? `, replacing one made with ${set.replaced}` : ''}\n`,
    );
    dataPath = set.manifestPath;
  }
  if (startOf(config.profile) === 'identity') {
    process.stderr.write(
      `${config.profile} is pre-aligned: fine-tuning from the identity (a linear head at the encoders' width; --dims, --head and --hidden do not apply), kept only if it beats zero-shot on validation\n`,
    );
  }
  const { card } = await trainProjection(
    config,
    {
      dataPath,
      ...(o['out'] ? { outDir: o['out'] } : {}),
      ...(o['images'] ? { imagesDir: o['images'] } : {}),
      ...(o['split'] ? { karpathySplit: o['split'] as KarpathySplit } : {}),
      onWarning: (message: string) => logger.warn(message),
      ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
      ...(flags.dims !== undefined ? { dims: flags.dims } : {}),
      head: o['head'] as 'mlp' | 'linear',
      ...(flags.hiddenDims !== undefined ? { hiddenDims: flags.hiddenDims } : {}),
      ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
      ...(flags.lr !== undefined ? { lr: flags.lr } : {}),
      ...(flags.weightDecay !== undefined ? { weightDecay: flags.weightDecay } : {}),
      ...(flags.patience !== undefined ? { patience: flags.patience } : {}),
      seed: config.seed,
      onEncodeProgress: (done, total) => {
        if (!tty) return;
        encodeBar ??= bars.create(total, 0, { task: 'encode', info: 'images' });
        encodeBar.update(done);
      },
      onStep: (e) => {
        progress.onStep(e);
        if (!tty) return;
        trainBar ??= bars.create(e.totalSteps, 0, { task: 'train ', info: '' });
        trainBar.update(e.step, {
          info: `epoch ${e.epoch} loss ${e.loss.toFixed(3)} T ${e.temperature.toFixed(3)} ${Math.round(e.pairsPerSecond)} pairs/s`,
        });
      },
      onEpoch: progress.onEpoch,
    },
    logger,
  ).finally(() => bars.stop());
  const v = card.validation;
  console.log(
    `projection ${card.fingerprint}: ${card.training.epochsRun} epochs (best ${card.training.bestEpoch}), ${card.training.pairsPerSecond} pairs/s, ${card.training.seconds}s of steps`,
  );
  const fmt = (d: NonNullable<typeof v>['t2i']) =>
    `R@1 ${d.r1.toFixed(3)} R@5 ${d.r5.toFixed(3)} R@10 ${d.r10.toFixed(3)}${d.p10 !== undefined ? ` P@10 ${d.p10.toFixed(3)}` : ''}`;
  if (v) console.log(`validation t2i: ${fmt(v.t2i)}\nvalidation i2t: ${fmt(v.i2t)}`);
  const z = card.zeroShot;
  if (z) console.log(`zero-shot  t2i: ${fmt(z.t2i)}\nzero-shot  i2t: ${fmt(z.i2t)}`);
  // A pre-aligned profile's fine-tune only becomes active when it beats zero-shot; say which.
  if (card.reason !== undefined)
    console.log(
      `${card.active ? 'active' : 'NOT active'}: ${card.reason}${card.active ? '' : ` (kept in ${rejectedDir(o['out'] ?? projectionDir(config))})`}`,
    );
  if (o['json']) await writeJsonOutput(o['json'], card);
});
