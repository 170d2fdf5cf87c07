import { writeFile } from 'node:fs/promises';
import { Option } from 'commander';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { trainClassifier } from '../src/train/train-classifier.ts';
import { classifierCommand, classifierFlags } from './lib/classifier-flags.ts';
import { runCli } from './lib/cli.ts';

const program = classifierCommand(
  'train-classifier',
  "Train the fusion classifier for a task on the frozen encoders' cached features; writes weights and card under DATA_DIR/classifiers/<profile>/<task>/",
).addOption(
  new Option('--fusion <kind>', 'how the two projections are fused')
    .choices(['sum', 'concat'])
    .default('sum'),
);

runCli(async () => {
  const o = program.parse().opts<Record<string, string | undefined>>();
  const flags = classifierFlags(o);
  const config = loadConfig({ overrides: { DATA_DIR: o['dataDir'], SEED: o['seed'] } });
  const logger = createLogger(config.logLevel);
  const { card, dir } = await trainClassifier(
    config,
    {
      ...flags,
      fusion: o['fusion'] as 'sum' | 'concat',
      onEpoch: (e) =>
        process.stderr.write(
          `epoch ${e.epoch}: loss ${e.loss.toFixed(4)}${e.val ? ` val accuracy ${e.val.accuracy.toFixed(4)} val loss ${e.val.loss.toFixed(4)}` : ''}${e.best ? ' (best)' : ''}\n`,
        ),
    },
    logger,
  );
  const t = card.scores.test;
  console.log(
    `classifier ${card.fingerprint} (${card.task}, ${card.head.fusion} fusion): ${card.training.epochsRun} epochs (best ${card.training.bestEpoch}), ${card.training.examplesPerSecond} examples/s`,
  );
  console.log(
    `test accuracy ${(100 * t.accuracy).toFixed(1)}%${t.rocAuc !== undefined ? `, ROC-AUC ${t.rocAuc.toFixed(3)}` : ''} on ${card.data.examples.test} held-out examples; saved in ${dir}`,
  );
  if (o['json']) await writeFile(o['json'], `${JSON.stringify(card, null, 2)}\n`);
});
