import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A PostgreSQL cluster of one test's own, for tests that stop and restart the server (the shared
 * one must stay up for everyone else). Same recipe as the global setup: initdb as the postgres
 * user when running as root, trust auth, a free port.
 */
export interface ThrowawayPostgres {
  url: string;
  /** `pg_ctl stop`: `fast` ends sessions with 57P01, `immediate` drops them like a crash. */
  stop(mode: 'fast' | 'immediate'): void;
  /** `pg_ctl start`, waiting until it accepts connections. */
  start(): void;
  /**
   * SIGSTOP to the postmaster and every backend: the server keeps its sockets open but answers
   * nothing, as a hung or overloaded database does. `thaw` sends SIGCONT.
   */
  freeze(): void;
  thaw(): void;
  /** Stops it if running and removes its files. */
  destroy(): void;
}

/** The cluster, started; or why it cannot run here. */
export function findBinDir(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return path.dirname(execFileSync('readlink', ['-f', onPath], { encoding: 'utf8' }).trim());
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => path.join(root, v, 'bin')).find((d) => existsSync(path.join(d, 'pg_ctl')));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startThrowawayPostgres(
  options: { maxConnections?: number } = {},
): Promise<ThrowawayPostgres | { skipReason: string }> {
  const binDir = findBinDir();
  if (!binDir || !existsSync(path.join(binDir, 'initdb')))
    return { skipReason: 'PostgreSQL server binaries (initdb, pg_ctl) not found' };
  const root = mkdtempSync(path.join(os.tmpdir(), 'cms-pg-own-'));
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    const full = path.join(binDir, cmd);
    const result = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', full, ...args], { encoding: 'utf8' })
      : spawnSync(full, args, { encoding: 'utf8' });
    if (result.status !== 0)
      throw new Error(`${cmd} ${args.at(-1)} failed: ${result.stderr || result.stdout}`);
  };
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(root, uid, gid);
  }
  chmodSync(root, 0o700);
  run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '-N']);
  const start = () =>
    run('pg_ctl', [
      '-D',
      dataDir,
      '-w',
      '-l',
      path.join(root, 'server.log'),
      '-o',
      `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=${options.maxConnections ?? 100}`,
      'start',
    ]);
  start();
  let running = true;
  const processes = (): number[] => {
    const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' })
      .stdout.split('\n')
      .map((l) => Number(l.trim()))
      .filter((pid) => pid > 0);
    return [postmaster, ...children];
  };
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    stop(mode) {
      run('pg_ctl', ['-D', dataDir, '-w', '-m', mode, 'stop']);
      running = false;
    },
    start() {
      start();
      running = true;
    },
    freeze() {
      for (const pid of processes()) process.kill(pid, 'SIGSTOP');
    },
    thaw() {
      for (const pid of processes()) process.kill(pid, 'SIGCONT');
    },
    destroy() {
      try {
        if (running) run('pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
