import type { BenchmarkResult } from '../../src/train/benchmark-eval.ts';
import type { Recalls } from '../../src/train/benchmark.ts';

const cell = (v: number | undefined) => (v === undefined ? '    -' : v.toFixed(1).padStart(5));
const recalls = (r: Partial<Recalls>, scale: number) =>
  [r.r1, r.r5, r.r10].map((v) => cell(v === undefined ? undefined : v * scale)).join(' ');

/** Our rows, then the published rows for the active profile, each with its source. */
export function formatBenchmark(result: BenchmarkResult): string {
  const lines = [
    `${result.benchmark} (profile ${result.profile}): ${result.images} test images, ${result.captions} captions` +
      (result.rows[0] && result.rows[0].folds > 1 ? `, ${result.rows[0].folds} folds averaged` : ''),
    '',
    `${'model'.padEnd(44)} text->image R@1/5/10   image->text R@1/5/10    RSUM`,
  ];
  for (const row of result.rows) {
    lines.push(
      `${`ours: ${row.projection} ${row.fingerprint}`.slice(0, 44).padEnd(44)} ${recalls(row.t2i, 100)}     ${recalls(row.i2t, 100)}   ${row.rsum.toFixed(1).padStart(5)}`,
    );
  }
  const sources: string[] = [];
  for (const p of result.published) {
    sources.push(p.source);
    const six = [p.t2i.r1, p.t2i.r5, p.t2i.r10, p.i2t.r1, p.i2t.r5, p.i2t.r10];
    const rsum = six.every((v) => v !== undefined)
      ? six
          .reduce((a, v) => a! + v!, 0)!
          .toFixed(1)
          .padStart(5)
      : '    -';
    lines.push(
      `${`published: ${p.model} [${sources.length}]`.padEnd(44)} ${recalls(p.t2i, 1)}     ${recalls(p.i2t, 1)}   ${rsum}`,
    );
  }
  if (result.published.length === 0)
    lines.push(`(no published numbers recorded for profile ${result.profile})`);
  if (sources.length > 0) lines.push('', ...sources.map((s, i) => `[${i + 1}] ${s}`));
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}
