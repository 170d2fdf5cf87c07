/**
 * A `/healthz` watchdog in a child process: it polls on its own event loop, so it sees the
 * server's event loop stall even while the test's own awaits are stuck behind the same server.
 * Assert on what it saw, never on how long the hostile request took.
 */
import { spawn } from 'node:child_process';

export interface Watchdog {
  /** Stops polling; resolves with the slowest poll (ms) and every failure seen. */
  stop(): Promise<{ polls: number; slowestMs: number; failures: string[] }>;
}

const SCRIPT = `
const [url, limitMs] = [process.argv[1], Number(process.argv[2])];
let polls = 0, slowestMs = 0, failures = [], stopping = false;
process.stdin.on('data', () => { stopping = true; });
(async () => {
  while (!stopping) {
    const start = Date.now();
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(limitMs) });
      await r.text();
      if (r.status !== 200) failures.push('status ' + r.status);
    } catch (e) { failures.push(String(e && e.name || e)); }
    const ms = Date.now() - start;
    polls++; slowestMs = Math.max(slowestMs, ms);
    if (ms > limitMs) failures.push('poll took ' + ms + ' ms');
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(JSON.stringify({ polls, slowestMs, failures }), () => process.exit(0));
})();
`;

/** Polls `${baseUrl}/healthz` every 100 ms; a poll over `limitMs` counts as a failure. */
export async function startWatchdog(baseUrl: string, limitMs = 3000): Promise<Watchdog> {
  const child = spawn(process.execPath, ['-e', SCRIPT, `${baseUrl}/healthz`, String(limitMs)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Let it make its first poll before the hostile request goes out.
  await new Promise((r) => setTimeout(r, 300));
  return {
    async stop() {
      child.stdin.end('stop\n');
      await exited;
      return JSON.parse(out) as { polls: number; slowestMs: number; failures: string[] };
    },
  };
}
