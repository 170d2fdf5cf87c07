import { Command, Option } from 'commander';
import { loadConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import type { BenchmarkName } from '../src/train/benchmark.ts';
import { evaluateBenchmark } from '../src/train/benchmark-eval.ts';
import { evaluate, type Evaluation } from '../src/train/evaluate.ts';
import type { RetrievalScores } from '../src/train/metrics.ts';
import { formatBenchmark } from './lib/benchmark-table.ts';
import { checkOutputPath, writeJsonOutput, runCli } from './lib/cli.ts';

const program = new Command('eval')
  .description(
    'Recall@1/5/10 (and attribute Precision@10 on synthetic data) of the trained and the untrained projection (zero-shot and fine-tuned for CLIP), side by side',
  )
  .option(
    '--data <path>',
    'JSONL manifest, COCO captions JSON, Flickr30k results.csv or Karpathy dataset_*.json (default DATA_DIR/samples/manifest.jsonl)',
  )
  .option('--images <dir>', 'image folder (root) for COCO / Flickr30k / Karpathy files')
  .addOption(
    new Option(
      '--benchmark <name>',
      'the published protocol on the test split (R@1/5/10 both ways, RSUM) beside the published numbers',
    ).choices(['coco5k', 'coco1k', 'flickr30k']),
  )
  .option(
    '--karpathy <file>',
    'Karpathy dataset_coco.json / dataset_flickr30k.json for --benchmark (or use --data)',
  )
  .addOption(
    new Option('--split <split>', 'which split to score')
      .choices(['train', 'val', 'test', 'all'])
      .default('test'),
  )
  .option('--projection <dir>', 'trained projection folder (default DATA_DIR/projections/<profile>)')
  .option('--json <path>', 'write the scores as JSON here')
  .option('--data-dir <dir>', 'data directory (DATA_DIR)');

const pct = (v: number | undefined) => (v === undefined ? '   -  ' : `${(100 * v).toFixed(1).padStart(5)}%`);

export function formatEvaluation(e: Evaluation): string {
  // A pre-aligned profile (CLIP) compares its zero-shot identity with the fine-tune.
  const aligned = e.start === 'identity';
  const [before, after] = aligned ? ['zero-shot', 'fine-tuned'] : ['untrained', 'trained'];
  const lines = [`split ${e.split}: ${e.images} images, ${e.captions} captions`, ''];
  lines.push('projection   direction    R@1     R@5     R@10    P@10   (P@10 chance)');
  const rows = (name: string, s: RetrievalScores | undefined) => {
    if (s === undefined) return;
    for (const dir of ['t2i', 'i2t'] as const) {
      const d = s[dir];
      lines.push(
        `${name.padEnd(12)} ${dir.padEnd(9)} ${pct(d.r1)}  ${pct(d.r5)}  ${pct(d.r10)}  ${pct(d.p10)}  ${pct(d.p10Chance)}`,
      );
    }
  };
  rows(before, e.untrained);
  rows(after, e.trained);
  rows(`${after}*`, e.rejected);
  if (aligned) {
    lines.push(
      '',
      e.trained
        ? `active: the fine-tune ${e.trained.fingerprint}`
        : `active: the zero-shot identity ${e.untrained.fingerprint} (no fine-tune beat it)`,
    );
  }
  if (e.rejected) {
    lines.push(
      `* ${e.rejected.fingerprint} is not active: ${e.rejected.reason ?? 'it did not beat zero-shot on validation'}`,
    );
  }
  const per = e.trained?.perAttribute ?? e.untrained.perAttribute;
  if (per !== undefined) {
    lines.push(
      '',
      `attribute P@10      ${before.padStart(9)} t2i  i2t    ${after.padStart(7)} t2i  i2t    (captions)`,
    );
    for (const key of Object.keys(per)) {
      const u = e.untrained.perAttribute?.[key];
      const t = e.trained?.perAttribute?.[key];
      lines.push(
        `${key.padEnd(18)}  ${pct(u?.t2i)}  ${pct(u?.i2t)}    ${pct(t?.t2i)}  ${pct(t?.i2t)}   ${per[key]?.captions}`,
      );
    }
  }
  if (e.trained?.t2i.p10 !== undefined && e.untrained.t2i.p10 !== undefined) {
    const ratio = (a = 0, b = 0) => (b > 0 ? (a / b).toFixed(1) : 'inf');
    lines.push(
      '',
      `${after} / ${before} P@10: t2i ${ratio(e.trained.t2i.p10, e.untrained.t2i.p10)}x, i2t ${ratio(e.trained.i2t.p10, e.untrained.i2t.p10)}x`,
    );
  }
  return lines.join('\n');
}

runCli(async () => {
  const o = program.parse().opts<Record<string, string | undefined>>();
  await checkOutputPath(o['json']);
  const config = loadConfig({ overrides: { DATA_DIR: o['dataDir'] } });
  const logger = createLogger(config.logLevel);
  const onWarning = (message: string) => logger.warn(message);
  if (o['benchmark']) {
    const dataPath = o['karpathy'] ?? o['data'];
    if (dataPath === undefined)
      throw new AppError(
        'INVALID_INPUT',
        '--benchmark needs --karpathy <dataset_*.json> or --data <manifest.jsonl>',
      );
    const result = await evaluateBenchmark(
      config,
      {
        benchmark: o['benchmark'] as BenchmarkName,
        dataPath,
        onWarning,
        ...(o['images'] ? { imagesDir: o['images'] } : {}),
      },
      logger,
    );
    console.log(formatBenchmark(result));
    if (o['json']) await writeJsonOutput(o['json'], result);
    return;
  }
  const result = await evaluate(
    config,
    {
      dataPath: o['data'] ?? `${config.paths.samples}/manifest.jsonl`,
      split: o['split'] as 'test',
      // A Karpathy file is read (and encoded) for the scored split only, not all 123k images.
      karpathySplit: o['split'] === 'train' ? 'train+restval' : (o['split'] as 'val' | 'test' | 'all'),
      onWarning,
      ...(o['images'] ? { imagesDir: o['images'] } : {}),
      ...(o['projection'] ? { projectionDir: o['projection'] } : {}),
    },
    logger,
  );
  console.log(formatEvaluation(result));
  if (o['json']) await writeJsonOutput(o['json'], result);
});
