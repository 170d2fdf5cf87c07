/**
 * The locking protocol behind attaching captions (issue 9, items 6 and 7), at the repository
 * level on both backends: a writer holding `lockLive` makes a soft delete wait, and the delete's
 * own caption read then sees what the writer committed.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CaptionsRepository,
  ImagesRepository,
  migrate,
  type Db,
  type NewImage,
} from '../../src/store/index.ts';
import { announceSkip, backends } from '../setup/databases.ts';

const image = (name: string): NewImage => ({
  sha256: createHash('sha256').update(name).digest('hex'),
  uri: `file:///photos/${name}.jpg`,
  width: 64,
  height: 48,
  format: 'jpeg',
  bytes: 100,
});

describe.each(backends)('attaching captions under a row lock [$name]', (backend) => {
  const skip = announceSkip(backend, 'caption lock');
  const database: { get(): Db; url(): string } = (() => {
    let opened: Awaited<ReturnType<typeof backend.open>> | undefined;
    beforeAll(async () => {
      if (skip) return;
      opened = await backend.open();
      await migrate(opened.db);
    });
    afterAll(async () => {
      await opened?.dispose();
    });
    return { get: () => opened!.db, url: () => opened!.url! };
  })();

  it.skipIf(skip)('addMissing stores only texts the image lacks, once each, in the order given', async () => {
    const db = database.get();
    const { image: stored } = await new ImagesRepository(db).insertWithCaptions(image('a'), ['one', 'two']);
    const captions = new CaptionsRepository(db);
    const added = await captions.addMissing(stored.id, ['two', 'three', 'one', 'four', 'three']);
    expect(added.map((c) => c.text)).toEqual(['three', 'four']);
    expect((await captions.getByImageIds([stored.id])).get(stored.id)!.map((c) => c.text)).toEqual([
      'one',
      'two',
      'three',
      'four',
    ]);
  });

  it.skipIf(skip)('lockLive is false for an unknown or deleted image', async () => {
    const db = database.get();
    const images = new ImagesRepository(db);
    const { image: stored } = await images.insertWithCaptions(image('b'), []);
    expect(await db.transaction((tx) => new ImagesRepository(tx).lockLive(stored.id))).toBe(true);
    await images.softDelete(stored.id);
    expect(await db.transaction((tx) => new ImagesRepository(tx).lockLive(stored.id))).toBe(false);
    expect(await db.transaction((tx) => new ImagesRepository(tx).lockLive(987654))).toBe(false);
  });

  it.skipIf(skip)(
    'a delete waits for a writer holding the row, then reads the captions it committed',
    async () => {
      const db = database.get();
      const { image: stored } = await new ImagesRepository(db).insertWithCaptions(image('c'), ['first']);
      let letWriterGo!: () => void;
      const writerMayGo = new Promise<void>((resolve) => (letWriterGo = resolve));
      let locked!: () => void;
      const writerLocked = new Promise<void>((resolve) => (locked = resolve));
      const writer = db.transaction(async (tx) => {
        expect(await new ImagesRepository(tx).lockLive(stored.id)).toBe(true);
        locked();
        await writerMayGo;
        return new CaptionsRepository(tx).addMissing(stored.id, ['second']);
      });
      await writerLocked;
      const deleter = db.transaction(async (tx) => {
        if (!(await new ImagesRepository(tx).softDelete(stored.id))) return undefined;
        return new CaptionsRepository(tx).idsOfImage(stored.id);
      });
      // On PostgreSQL, see the delete actually wait on the row before the writer goes on.
      // PGlite runs one transaction at a time: the delete cannot start before the writer ends.
      if (backend.name === 'postgres') await waitForLockWaiter(database.url());
      letWriterGo();
      const [second] = await writer;
      const ids = await deleter;
      const all = (await new CaptionsRepository(db).getByImageIds([stored.id])).get(stored.id)!;
      expect(ids).toEqual(all.map((c) => c.id));
      expect(ids).toContain(second!.id);
      // And once the delete committed, nobody attaches to the image any more.
      expect(await db.transaction((tx) => new ImagesRepository(tx).lockLive(stored.id))).toBe(false);
    },
  );
});

/** Polls until a session waits on a lock; bounded. */
async function waitForLockWaiter(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    for (let i = 0; i < 400; i++) {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
      );
      if (rows[0]!.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the delete never waited for the row lock');
  } finally {
    await admin.end();
  }
}
