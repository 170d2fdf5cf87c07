import cliProgress from 'cli-progress';
import type { FetchProgress } from '../../src/models/hub.ts';

/** Plain log lines at most this often when stderr is not a terminal (CI logs, pipes). */
const LOG_EVERY_MS = 5000;

/**
 * A download progress display on stderr: a bar with bytes/s and ETA on a terminal, else one line
 * every few seconds. Speed and ETA count only this run's bytes, so a resumed file is not flattered.
 */
export function downloadProgress(stream: NodeJS.WriteStream = process.stderr): FetchProgress {
  let name = '';
  let total = 0;
  let first = 0;
  let started = 0;
  let lastLog = 0;
  let last = 0;
  const stats = (done: number) => {
    const seconds = Math.max((performance.now() - started) / 1000, 1e-3);
    const rate = (done - first) / seconds;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    return { rate: `${mib(rate)}/s`, eta: Number.isFinite(eta) ? duration(eta) : '?' };
  };
  const bar = stream.isTTY
    ? new cliProgress.SingleBar(
        {
          stream,
          format: '{name} [{bar}] {percentage}% | {doneMiB}/{totalMiB} | {rate} | ETA {etaText}',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  return {
    start(file, size, done) {
      name = file;
      total = size;
      first = done;
      started = performance.now();
      lastLog = started;
      last = done;
      const payload = { name, doneMiB: mib(done), totalMiB: mib(size), rate: '-', etaText: '?' };
      if (bar !== undefined) bar.start(size, done, payload);
      else
        stream.write(`downloading ${name} (${mib(size)}${done > 0 ? `, resuming at ${mib(done)}` : ''})\n`);
    },
    update(done) {
      last = done;
      const { rate, eta } = stats(done);
      if (bar !== undefined) {
        bar.update(done, { doneMiB: mib(done), rate, etaText: eta });
      } else if (performance.now() - lastLog >= LOG_EVERY_MS) {
        lastLog = performance.now();
        stream.write(`  ${name}: ${mib(done)} of ${mib(total)}, ${rate}, ETA ${eta}\n`);
      }
    },
    end() {
      if (bar !== undefined) bar.stop();
      else if (last > first)
        stream.write(`  ${name}: ${mib(last)} of ${mib(total)} at ${stats(last).rate}\n`);
    },
  };
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
