import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { evaluateClassifiers, type TaskEvaluation } from '../src/train/classifier-eval.ts';
import { classifierCommand, classifierFlags } from './lib/classifier-flags.ts';
import { runCli } from './lib/cli.ts';

const program = classifierCommand(
  'eval-classifier',
  "Held-out accuracy (and ROC-AUC for match) of the fused classifier (sum and concat) beside text-only, image-only and, for match, the projection's thresholded cosine, all trained the same way",
);

const pct = (v: number | undefined) => (v === undefined ? '    -  ' : `${(100 * v).toFixed(1).padStart(6)}%`);

export function formatTaskEvaluation(e: TaskEvaluation): string {
  const lines = [
    `task ${e.task}: ${e.examples.train} train / ${e.examples.val} val / ${e.examples.test} test examples; majority class ${pct(e.majority)}`,
    '',
    `model        accuracy  ${e.rocAuc ? 'ROC-AUC  ' : ''}epochs (best)`,
  ];
  for (const name of ['sum', 'concat', 'textOnly', 'imageOnly', 'cosine'] as const) {
    const acc = e.accuracy[name];
    if (acc === undefined) continue;
    const auc = e.rocAuc?.[name];
    const ep = name === 'cosine' ? 'threshold on val' : `${e.epochs[name].run} (${e.epochs[name].best})`;
    lines.push(
      `${name.padEnd(11)} ${pct(acc)}  ${e.rocAuc ? `${auc === undefined ? '   -   ' : auc.toFixed(3).padStart(7)}  ` : ''}${ep}`,
    );
  }
  if (e.cosine && !e.cosine.projectionTrained)
    lines.push('', 'note: the cosine baseline used the untrained projection: run `npm run train` first');
  lines.push('', 'accuracy by example kind:');
  const kinds = [...new Set(Object.values(e.byKind).flatMap((k) => Object.keys(k)))];
  lines.push(`${'model'.padEnd(11)} ${kinds.map((k) => k.padStart(9)).join(' ')}`);
  for (const [name, k] of Object.entries(e.byKind))
    lines.push(`${name.padEnd(11)} ${kinds.map((kind) => pct(k[kind]).padStart(9)).join(' ')}`);
  return lines.join('\n');
}

runCli(async () => {
  const o = program.parse().opts<Record<string, string | undefined>>();
  const flags = classifierFlags(o);
  const config = loadConfig({ overrides: { DATA_DIR: o['dataDir'], SEED: o['seed'] } });
  const logger = createLogger(config.logLevel);
  const result = await evaluateClassifiers(
    config,
    { ...flags, onVariant: (v) => process.stderr.write(`training ${v}...\n`) },
    logger,
  );
  console.log(formatTaskEvaluation(result));
  if (o['json'])
    await writeFile(
      o['json'],
      `${JSON.stringify({ task: result.task, accuracy: result.accuracy, ...(result.rocAuc ? { rocAuc: result.rocAuc } : {}) }, null, 2)}\n`,
    );
});
