/**
 * A second process for the DATA_DIR lock tests.
 *   race <base> <rounds> <me> <peer>: for each round, waits at a barrier for <peer>, then tries to
 *     lock <base>/round-<i>; prints the rounds won as JSON and holds every lock until stdin closes,
 *     so a lock is never released before the other contender has tried it.
 *   hold <dir>: locks <dir>, prints "locked", holds it until stdin closes (or SIGKILL).
 *   try <dir>: tries once; prints "locked" or the refusal's code and message.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../../src/logger.ts';
import { lockDataDir, type DataDirLock } from '../../../src/store/data-dir-lock.ts';

const [mode, target, ...rest] = process.argv.slice(2);
const untilStdinCloses = () =>
  new Promise<void>((resolve) => {
    process.stdin.resume();
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
  });

if (mode === 'race') {
  const [rounds, me, peer] = [Number(rest[0]), rest[1]!, rest[2]!];
  const won: number[] = [];
  const held: DataDirLock[] = [];
  for (let i = 0; i < rounds; i++) {
    writeFileSync(path.join(target!, `ready-${i}-${me}`), '');
    // Bounded: the peer arrives within seconds even on a loaded machine.
    for (let t = 0; t < 20_000 && !existsSync(path.join(target!, `ready-${i}-${peer}`)); t++) await sleep(1);
    try {
      held.push(
        await lockDataDir(path.join(target!, `round-${i}`), { command: `race ${me}`, logger: silentLogger }),
      );
      won.push(i);
    } catch (error) {
      if ((error as { code?: string }).code !== 'DATA_DIR_LOCKED') throw error;
    }
  }
  process.stdout.write(`${JSON.stringify(won)}\n`);
  await untilStdinCloses();
  for (const lock of held) await lock.release();
} else if (mode === 'hold') {
  const lock = await lockDataDir(target!, { command: 'hold', logger: silentLogger });
  process.stdout.write('locked\n');
  await untilStdinCloses();
  await lock.release();
} else if (mode === 'try') {
  try {
    const lock = await lockDataDir(target!, { command: 'try', logger: silentLogger, staleMs: 2000 });
    process.stdout.write('locked\n');
    await lock.release();
  } catch (error) {
    const e = error as { code?: string; message: string };
    process.stdout.write(`${e.code ?? 'ERROR'} ${e.message}\n`);
  }
} else throw new Error(`unknown mode ${mode}`);
