import { describe, expect, it } from 'vitest';
import { WriteGate } from '../../src/api/write-gate.ts';

/** A promise and its resolver, to hold a task inside the gate until the test lets it go. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every queued continuation run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('WriteGate', () => {
  it('runs shared tasks side by side; an exclusive one waits for them and runs alone, first come first served', async () => {
    const gate = new WriteGate();
    const log: string[] = [];
    const task = (name: string, hold: Promise<void>) => async () => {
      log.push(`${name} in`);
      await hold;
      log.push(`${name} out`);
      return name;
    };
    const a = latch();
    const b = latch();
    const d = latch();
    const c = latch();
    const running = [
      gate.shared(task('add1', a.promise)),
      gate.shared(task('add2', b.promise)),
      gate.exclusive(task('delete', d.promise)),
      // Arrives after the delete: waits for it even though only sharers hold the gate.
      gate.shared(task('add3', c.promise)),
    ];
    await settle();
    expect(log).toEqual(['add1 in', 'add2 in']);
    a.open();
    await settle();
    expect(log).toEqual(['add1 in', 'add2 in', 'add1 out']);
    b.open();
    await settle();
    expect(log).toEqual(['add1 in', 'add2 in', 'add1 out', 'add2 out', 'delete in']);
    d.open();
    c.open();
    expect(await Promise.all(running)).toEqual(['add1', 'add2', 'delete', 'add3']);
    expect(log.slice(4)).toEqual(['delete in', 'delete out', 'add3 in', 'add3 out']);
  });

  it('lets the next task in when one throws', async () => {
    const gate = new WriteGate();
    await expect(
      gate.exclusive(async () => {
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await gate.shared(async () => 'after')).toBe('after');
  });
});
