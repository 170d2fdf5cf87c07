import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkQueueRepository, type QueuedItem } from '../../src/store/work-queue.repository.ts';
import { announceSkip, postgresBackend, useMigratedDb } from '../setup/databases.ts';

/**
 * The work queue's claims on a real server: SKIP LOCKED keeps two claimers apart, a lease that
 * runs out is taken over, and only the current holder's token can commit an item.
 */
const skip = announceSkip(postgresBackend, 'work queue');
const item = (key: string): QueuedItem => ({
  source: 'jsonl:/data/m.jsonl',
  key,
  uri: `file:///data/${key}.jpg`,
  file: `/data/${key}.jpg`,
  root: '/data',
  captions: [`a ${key}`],
  metadata: { key },
});

describe.skipIf(skip)('work queue [postgres]', () => {
  const database = useMigratedDb(postgresBackend, skip);

  it('enqueues once per (source, key), claims disjoint batches, and fences a holder whose lease was taken over', async () => {
    const db = database.get();
    const queue = new WorkQueueRepository(db);
    expect(await queue.enqueue(['a', 'b', 'c'].map(item))).toBe(3);
    expect(await queue.enqueue(['a', 'b', 'c', 'd'].map(item))).toBe(1);

    // Two claimers at once never get the same item.
    const [one, two] = await Promise.all([queue.claim('w1', 2, 60_000), queue.claim('w2', 2, 60_000)]);
    const keys = [...one.items, ...two.items].map((i) => i.key).sort();
    expect(keys).toEqual(['a', 'b', 'c', 'd']);
    expect(one.items[0]).toMatchObject({ uri: expect.stringMatching(/^file:/), captions: expect.any(Array) });

    // w1's lease is cut short: w3 takes its items over with a new token.
    await db.query(`UPDATE work_items SET lease_until = now() - interval '1 second' WHERE worker = 'w1'`);
    const taken = await queue.claim('w3', 10, 60_000);
    expect(taken.items.map((i) => i.key).sort()).toEqual(one.items.map((i) => i.key).sort());
    expect(taken.items.every((i) => i.attempts === 2)).toBe(true);

    // Only the current token holds them; the old holder's commit would write nothing.
    const heldByOld = await db.transaction((tx) =>
      new WorkQueueRepository(tx).hold(item('x').source, keys, one.token),
    );
    expect(heldByOld.size).toBe(0);
    await db.transaction(async (tx) => {
      const q = new WorkQueueRepository(tx);
      const held = await q.hold(item('x').source, keys, taken.token);
      expect([...held].sort()).toEqual(taken.items.map((i) => i.key).sort());
      await q.finish(
        item('x').source,
        taken.token,
        [...held].map((key) => ({ key, status: 'indexed' as const })),
      );
    });
    // A finished item is never claimed again, even by a worker whose lease ran out.
    expect(await queue.extendLease(one.token, 60_000)).toBe(0);
    await sleep(5);
    expect((await queue.claim('w4', 10, 60_000)).items).toEqual([]);
    expect(await queue.counts()).toEqual({ pending: 0, claimed: 2, expired: 0, done: 2, failed: 0 });

    // Released (a worker stopping mid-batch) and abandoned (claimed too often) items.
    await queue.release(two.token);
    expect((await queue.counts()).pending).toBe(2);
    const again = await queue.claim('w5', 10, 1);
    await sleep(20);
    expect(await queue.failAbandoned(again.items[0]!.attempts)).toBe(2);
    // `index --list-failed` shows them: no worker recorded them in the ingest ledger.
    const failed = await queue.failed(item('x').source, 10);
    expect(failed.map((f) => f.key)).toEqual(again.items.map((i) => i.key).sort());
    expect(failed.map((f) => f.error)).toEqual([
      expect.stringMatching(/^WORKER_LOST: claimed 1 times/),
      expect.stringMatching(/^WORKER_LOST: claimed 1 times/),
    ]);
  });
});
