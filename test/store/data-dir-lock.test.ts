import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { lockDataDir } from '../../src/store/data-dir-lock.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONTENDER = 'test/store/processes/lock-contender.ts';
const ROUNDS = 60;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cms-lock-'));
  dirs.push(dir);
  return dir;
}

function contender(args: string[]): { child: ChildProcess; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CONTENDER, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.on('close', (code) => reject(new Error(`contender exited ${code} before a line: ${err}`)));
  });
  return { child, firstLine };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.on('close', () => resolve())));

/** What a second process gets when it tries the lock once. */
function tryFromAnotherProcess(dir: string): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CONTENDER, 'try', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return r.stdout.trim() || r.stderr;
}

/** A lock left as another process would leave it: its directory, its heartbeat and its holder. */
async function plantLock(dir: string, holder: object, ageMs: number): Promise<void> {
  await mkdir(path.join(dir, '.lock'), { recursive: true });
  const when = new Date(Date.now() - ageMs);
  await utimes(path.join(dir, '.lock'), when, when);
  await writeFile(path.join(dir, '.lock-holder.json'), JSON.stringify(holder));
}

describe('the DATA_DIR lock between real processes', () => {
  it.each([
    ['a free directory', 0],
    ['a directory whose holder on another host went stale an hour ago', 3_600_000],
  ])('of two processes racing for %s, exactly one wins, round after round', async (_, staleAge) => {
    const base = await tempDir();
    for (let i = 0; i < ROUNDS; i++) {
      await mkdir(path.join(base, `round-${i}`));
      if (staleAge > 0)
        await plantLock(
          path.join(base, `round-${i}`),
          { pid: 1, host: 'another-host', command: 'start', since: 'earlier' },
          staleAge,
        );
    }
    const a = contender(['race', base, String(ROUNDS), 'a', 'b']);
    const b = contender(['race', base, String(ROUNDS), 'b', 'a']);
    const [wonA, wonB] = (await Promise.all([a.firstLine, b.firstLine])).map(
      (l) => JSON.parse(l) as number[],
    );
    a.child.stdin!.end();
    b.child.stdin!.end();
    await Promise.all([exited(a.child), exited(b.child)]);
    expect([...wonA!, ...wonB!].sort((x, y) => x - y)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i));
    // Both won some rounds, or the race never happened (one process always ahead proves little).
    console.log(
      `[lock race, stale age ${staleAge}] a won ${wonA!.length}, b won ${wonB!.length} of ${ROUNDS}`,
    );
  });

  it('refuses a second process while the holder lives, naming it, and takes over at once when it is SIGKILLed', async () => {
    const dir = await tempDir();
    const holder = contender(['hold', dir]);
    expect(await holder.firstLine).toBe('locked');
    const refused = tryFromAnotherProcess(dir);
    expect(refused).toMatch(/^DATA_DIR_LOCKED .*in use by process \d+ \(hold\) on /);
    expect(refused).toContain(`process ${holder.child.pid} `);
    holder.child.kill('SIGKILL');
    await exited(holder.child);
    // The dead holder's heartbeat is still fresh: the takeover comes from seeing its process gone.
    expect(tryFromAnotherProcess(dir)).toBe('locked');
  });

  it('a holder on another host keeps the lock while its heartbeat is fresh, and loses it once stale', async () => {
    const dir = await tempDir();
    const remote = { pid: process.pid, host: 'another-host', command: 'start', since: 'earlier' };
    await plantLock(dir, remote, 0);
    expect(tryFromAnotherProcess(dir)).toMatch(/^DATA_DIR_LOCKED .*process \d+ \(start\) on another-host/);
    await plantLock(dir, remote, 10_000); // older than the contender's 2 s stale period
    expect(tryFromAnotherProcess(dir)).toBe('locked');
  });

  it("a PID reused by an unrelated process does not keep a dead holder's lock", async () => {
    const dir = await tempDir();
    // The parent process is alive, but it is not the process that took the lock (other start time).
    const reused = {
      pid: process.pid,
      host: os.hostname(),
      command: 'index',
      since: 'earlier',
      started: '1',
    };
    await plantLock(dir, reused, 0);
    expect(tryFromAnotherProcess(dir)).toBe('locked');
  });

  it('reopening in one process is reference counted: the last release unlocks', async () => {
    const dir = await tempDir();
    const first = await lockDataDir(dir, { command: 'first', logger: silentLogger });
    const second = await lockDataDir(dir, { command: 'second', logger: silentLogger });
    await first.release();
    await first.release(); // a handle releases once, however often it is called
    expect(tryFromAnotherProcess(dir)).toMatch(/^DATA_DIR_LOCKED .*\(first\)/);
    await second.release();
    expect(tryFromAnotherProcess(dir)).toBe('locked');
    expect(JSON.parse(await readFile(path.join(dir, '.lock-holder.json'), 'utf8').catch(() => '{}'))).toEqual(
      {},
    );
  });
});
