import { performance } from 'node:perf_hooks';
import type { ItemOutcome } from './items.ts';

export interface IngestProgress {
  /** Items handled by this run (indexed + duplicates + failed). */
  done: number;
  indexed: number;
  duplicates: number;
  failed: number;
  /** Items skipped because an earlier run finished them. */
  skipped: number;
  elapsedMs: number;
  /** Items per second handled by this run. */
  rate: number;
}

export interface IngestSummary extends IngestProgress {
  source: string;
  runId: number;
  fingerprint: string;
  /** Captions stored by this run, attached ones included. */
  captions: number;
  /** Of those, captions that duplicates brought and attached to images stored before. */
  attachedCaptions: number;
  truncatedCaptions: number;
  /** Images embedded per second (indexed images over elapsed time). */
  imagesPerSecond: number;
  /** Most frequent failure causes, by error code, with one example message each. */
  topFailures: { code: string; count: number; example: string }[];
  /** Stopped by its signal (SIGINT, SIGTERM) before the source was exhausted. */
  stopped?: boolean;
}

/** Counts for progress lines and the final summary. */
export class Tally {
  private readonly started = performance.now();
  private indexed = 0;
  private duplicates = 0;
  private failed = 0;
  private skipped = 0;
  private captions = 0;
  private attached = 0;
  private truncated = 0;
  private readonly reasons = new Map<string, { count: number; example: string }>();

  constructor(
    private readonly source: string,
    private readonly runId: number,
    private readonly fingerprint: string,
  ) {}

  skip(): void {
    this.skipped++;
  }

  record(outcomes: readonly ItemOutcome[], captions: number, truncated: number): void {
    for (const o of outcomes) {
      if (o.status === 'indexed') this.indexed++;
      else if (o.status === 'duplicate') {
        this.duplicates++;
        this.attached += o.captionIds.length;
      } else {
        this.failed++;
        const r = this.reasons.get(o.code);
        if (r) r.count++;
        else
          this.reasons.set(o.code, {
            count: 1,
            example: o.error.startsWith(`${o.code}: `) ? o.error.slice(o.code.length + 2) : o.error,
          });
      }
    }
    this.captions += captions;
    this.truncated += truncated;
  }

  progress(): IngestProgress {
    const elapsedMs = performance.now() - this.started;
    const done = this.indexed + this.duplicates + this.failed;
    return {
      done,
      indexed: this.indexed,
      duplicates: this.duplicates,
      failed: this.failed,
      skipped: this.skipped,
      elapsedMs: Math.round(elapsedMs),
      rate: elapsedMs > 0 ? done / (elapsedMs / 1000) : 0,
    };
  }

  summary(): IngestSummary {
    const p = this.progress();
    return {
      ...p,
      source: this.source,
      runId: this.runId,
      fingerprint: this.fingerprint,
      captions: this.captions,
      attachedCaptions: this.attached,
      truncatedCaptions: this.truncated,
      imagesPerSecond: p.elapsedMs > 0 ? this.indexed / (p.elapsedMs / 1000) : 0,
      topFailures: [...this.reasons.entries()]
        .map(([code, r]) => ({ code, count: r.count, example: r.example }))
        .sort((a, b) => b.count - a.count)
        .slice(0, 5),
    };
  }
}
