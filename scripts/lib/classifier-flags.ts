import { Command, Option } from 'commander';
import { z } from 'zod';
import { FitOptionsSchema } from '../../src/train/fit-options.ts';
import { CLASSIFIER_FIT_DEFAULTS } from '../../src/train/fit-classifier.ts';
import { DEFAULT_TASK_IMAGES, checkTask } from '../../src/train/classifier-data.ts';
import { TASK_NAMES, type TaskName } from '../../src/train/synthetic/tasks.ts';
import { checkFitFlags } from './fit-flags.ts';

/** The flags `train-classifier` and `eval-classifier` share: data, task and the fit options. */
export function classifierCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .addOption(new Option('--task <task>', 'the task').choices([...TASK_NAMES]).makeOptionMandatory())
    .option(
      '--data <manifest>',
      'a synthetic JSONL manifest with scene attributes (default: DATA_DIR/samples-tasks, generated when missing)',
    )
    .option(
      '--task-images <n>',
      'size of the generated task set when --data is not given',
      String(DEFAULT_TASK_IMAGES),
    )
    .option('--epochs <n>', 'maximum epochs', String(CLASSIFIER_FIT_DEFAULTS.epochs))
    .option('--hidden <n>', "hidden width (default: the profile's)")
    .option('--batch <n>', 'examples per step', String(CLASSIFIER_FIT_DEFAULTS.batchSize))
    .option('--lr <rate>', 'peak learning rate', String(CLASSIFIER_FIT_DEFAULTS.lr))
    .option('--weight-decay <wd>', 'AdamW weight decay', String(CLASSIFIER_FIT_DEFAULTS.weightDecay))
    .option(
      '--patience <n>',
      'epochs without a better validation accuracy before stopping',
      String(CLASSIFIER_FIT_DEFAULTS.patience),
    )
    .option('--seed <n>', 'random seed (default SEED)')
    .option('--json <path>', 'also write the result as JSON here')
    .option('--data-dir <dir>', 'data directory (DATA_DIR)');
}

const Schema = FitOptionsSchema.extend({ taskImages: z.number().int().min(10).max(1_000_000) });

/** The task, the data path and every numeric flag set, checked (one message lists every bad one). */
export function classifierFlags(o: Record<string, string | undefined>) {
  const flags = checkFitFlags(Schema, o, { taskImages: '--task-images' });
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  return {
    task: checkTask(o['task'] ?? '') as TaskName,
    ...(o['data'] ? { dataPath: o['data'] } : {}),
    ...defined,
  };
}
