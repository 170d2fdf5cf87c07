import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import {
  CaptionsRepository,
  ImagesRepository,
  IngestRepository,
  migrate,
  VectorsRepository,
  type Db,
  type NewImage,
} from '../../src/store/index.ts';
import { MIGRATIONS_DIR, readMigrations } from '../../src/store/migrate.ts';
import { openPgDb } from '../../src/store/pg-db.ts';
import { announceSkip, backends, useMigratedDb } from '../setup/databases.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const image = (name: string, extra: Partial<NewImage> = {}): NewImage => ({
  sha256: sha(name),
  uri: `file:///photos/${name}.jpg`,
  width: 640,
  height: 480,
  format: 'jpeg',
  bytes: 1000,
  metadata: {},
  ...extra,
});

describe.each(backends.map((b) => [b.name, b] as const))('store contract [%s]', (_name, backend) => {
  const skip = announceSkip(backend, 'store contract');
  const database = useMigratedDb(backend, skip);
  let db: Db;
  beforeEach(() => {
    if (!skip) db = database.get();
  });

  it.skipIf(skip)('applies every migration once and records it', async () => {
    const rows = await db.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => r.version)).toEqual((await readMigrations()).map((m) => m.version));
    expect(await migrate(db)).toEqual({ applied: [] });
  });

  it.skipIf(skip)('refuses a database that has a migration this code does not know', async () => {
    await db.query(
      "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, '999_future.sql', 'x')",
    );
    try {
      await expect(migrate(db)).rejects.toSatisfy((e) => isAppError(e, 'MIGRATION_CONFLICT'));
      await expect(migrate(db)).rejects.toThrow(/999_future\.sql/);
    } finally {
      await db.query('DELETE FROM schema_migrations WHERE version = 999');
    }
  });

  it.skipIf(skip)('inserts an image with its captions in one go and dedupes by content hash', async () => {
    const images = new ImagesRepository(db);
    const first = await images.insertWithCaptions(image('cat', { metadata: { album: 'pets' } }), [
      'a cat on a sofa',
      'a sleepy cat',
    ]);
    expect(first.inserted).toBe(true);
    expect(first.image).toMatchObject({
      sha256: sha('cat'),
      width: 640,
      format: 'jpeg',
      metadata: { album: 'pets' },
    });
    expect(first.captions.map((c) => c.text)).toEqual(['a cat on a sofa', 'a sleepy cat']);
    expect(first.captions.every((c) => c.imageId === first.image.id)).toBe(true);

    const again = await images.insertWithCaptions(image('cat'), ['another caption']);
    expect(again).toMatchObject({ inserted: false, captions: [] });
    expect(again.image.id).toBe(first.image.id);
    const caps = await new CaptionsRepository(db).getByImageIds([first.image.id]);
    expect(caps.get(first.image.id)?.map((c) => c.text)).toEqual(['a cat on a sofa', 'a sleepy cat']);
  });

  it.skipIf(skip)('rolls back the whole transaction when one statement fails', async () => {
    const before = await new ImagesRepository(db).countLive();
    await expect(
      db.transaction(async (tx) => {
        await new ImagesRepository(tx).insertWithCaptions(image('rollback'), ['kept?']);
        await tx.query('SELECT 1/0');
      }),
    ).rejects.toThrow();
    expect(await new ImagesRepository(db).countLive()).toBe(before);
    expect((await new ImagesRepository(db).findIdsByHashes([sha('rollback')])).size).toBe(0);
  });

  it.skipIf(skip)(
    'fetches by an id list in the given order, leaving out unknown and deleted ids',
    async () => {
      const images = new ImagesRepository(db);
      const a = (await images.insertWithCaptions(image('a'), [])).image.id;
      const b = (await images.insertWithCaptions(image('b'), [])).image.id;
      const c = (await images.insertWithCaptions(image('c'), [])).image.id;
      expect((await images.getByIds([c, 987654, a, b])).map((i) => i.id)).toEqual([c, a, b]);
      expect(await images.softDelete(b)).toBe(true);
      expect(await images.softDelete(b)).toBe(false);
      expect((await images.getByIds([c, a, b])).map((i) => i.id)).toEqual([c, a]);
      expect((await images.findIdsByHashes([sha('a'), sha('b')])).has(sha('b'))).toBe(false);
    },
  );

  it.skipIf(skip)('lists with filters and keyset paging, with no duplicates across pages', async () => {
    const images = new ImagesRepository(db);
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const rec = await images.insertWithCaptions(
        image(`page-${i}`, {
          format: i % 2 ? 'png' : 'jpeg',
          width: 100 * (i + 1),
          metadata: { set: 'paging', i },
        }),
        [i === 3 ? 'a red bicycle leaning on a wall' : `photo number ${i}`],
      );
      ids.push(rec.image.id);
    }
    const filter = { metadata: { set: 'paging' } };
    const seen: number[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await images.list(filter, {
        first: 3,
        ...(after === undefined ? {} : { afterId: after }),
      });
      seen.push(...page.rows.map((r) => r.id));
      if (!page.hasNextPage) break;
      after = page.rows.at(-1)!.id;
    }
    expect(seen).toEqual(ids);
    expect((await images.list({ ...filter, formats: ['png'] }, { first: 10 })).rows.map((r) => r.id)).toEqual(
      [ids[1], ids[3], ids[5]],
    );
    expect(await images.filterIds({ ...filter, minWidth: 300, maxWidth: 500 }, 10)).toEqual(ids.slice(2, 5));
    expect(await images.filterIds({ ...filter, captionMatch: 'bicycles' }, 10)).toEqual([ids[3]]);
    expect(await images.filterIds({ ...filter, createdAfter: new Date(Date.now() + 3_600_000) }, 10)).toEqual(
      [],
    );
  });

  it.skipIf(skip)('ranks captions by full-text match and hides those of deleted images', async () => {
    const images = new ImagesRepository(db);
    const captions = new CaptionsRepository(db);
    const dog = await images.insertWithCaptions(image('dog'), ['a brown dog running on the beach']);
    const gone = await images.insertWithCaptions(image('gone-dog'), ['a dog that was deleted']);
    await images.softDelete(gone.image.id);
    const hits = await captions.keywordScores('dogs running', { limit: 10 });
    expect(hits.map((h) => h.id)).toContain(dog.captions[0]!.id);
    expect(hits.map((h) => h.id)).not.toContain(gone.captions[0]!.id);
    expect(await captions.getByIds([gone.captions[0]!.id, dog.captions[0]!.id])).toMatchObject([
      { id: dog.captions[0]!.id, text: 'a brown dog running on the beach' },
    ]);
  });

  it.skipIf(skip)('stores vectors per fingerprint and reports what reconcile needs', async () => {
    const images = new ImagesRepository(db);
    const vectors = new VectorsRepository(db);
    const x = (await images.insertWithCaptions(image('vx'), ['vx caption'])).image.id;
    const y = (await images.insertWithCaptions(image('vy'), [])).image.id;
    const v = (seed: number) => Float32Array.from({ length: 8 }, (_, i) => Math.sin(seed + i));
    await vectors.upsert('image', 'fp-a', [
      { id: x, vector: v(1) },
      { id: y, vector: v(2) },
    ]);
    await vectors.upsert('image', 'fp-a', [{ id: x, vector: v(3) }]);
    const got = await vectors.get('image', 'fp-a', [x, y]);
    expect(Array.from(got.get(x)!)).toEqual(Array.from(v(3)));
    expect((await vectors.get('image', 'fp-b', [x])).size).toBe(0);
    expect((await vectors.scan('image', 'fp-a', { afterId: x, limit: 10 })).map((r) => r.id)).toContain(y);
    expect(await vectors.missingIds('image', 'fp-a', 100_000)).not.toContain(x);
    expect(await vectors.missingIds('image', 'fp-b', 100_000)).toContain(x);
    await images.softDelete(y);
    expect(await vectors.deletedIds('image', 'fp-a')).toEqual([y]);
    await expect(
      vectors.upsert('image', 'fp-a', [
        { id: x, vector: v(1) },
        { id: y, vector: new Float32Array(3) },
      ]),
    ).rejects.toSatisfy((e) => isAppError(e, 'INVALID_INPUT'));
  });

  it.skipIf(skip)('records ingest item outcomes once per key, counting attempts', async () => {
    const ingest = new IngestRepository(db);
    const run = await ingest.startRun('src-1', { batch: 4 });
    await ingest.recordItems(run, 'src-1', [
      { key: 'a.jpg', status: 'failed', error: 'INVALID_IMAGE: truncated' },
      { key: 'b.jpg', status: 'duplicate' },
    ]);
    const run2 = await ingest.startRun('src-1', {});
    await ingest.recordItems(run2, 'src-1', [
      { key: 'a.jpg', status: 'failed', error: 'INVALID_IMAGE: still truncated' },
    ]);
    const st = await ingest.statuses('src-1', ['a.jpg', 'b.jpg', 'c.jpg']);
    expect(Object.fromEntries(st)).toEqual({
      'a.jpg': { status: 'failed', attempts: 2 },
      'b.jpg': { status: 'duplicate', attempts: 1 },
    });
    expect(await ingest.failures('src-1', 10)).toEqual([
      { key: 'a.jpg', error: 'INVALID_IMAGE: still truncated' },
    ]);
    await ingest.finishRun(run2, { indexed: 0 });
  });

  it.skipIf(skip)('scores a keyword match from its own text only, whatever else is stored', async () => {
    const images = new ImagesRepository(db);
    const captions = new CaptionsRepository(db);
    const cat = await images.insertWithCaptions(image('keyword-cat'), [
      'a grey cat on a mat',
      'a cat and a cat',
    ]);
    const scores = async (among: number[]) => {
      const rows = await captions.keywordScores('cat', { limit: 1, among });
      return new Map(rows.map((r) => [r.id, r.score]));
    };
    const [one, two] = cat.captions.map((c) => c.id) as [number, number];
    // One cover of the keyword: rank 1, normalised to 1 / (1 + 1); two covers: 2 / 3, in float4.
    const expected = new Map([
      [one, 0.5],
      [two, Math.fround(2 / 3)],
    ]);
    // `limit` keeps the best match; `among` adds the asked-for one however it ranks.
    expect(await scores([one])).toEqual(expected);
    expect(await scores([])).toEqual(new Map([[two, Math.fround(2 / 3)]]));
    // Hybrid paging relies on it: more matches and deletions leave the others' scores alone.
    const more = await images.insertWithCaptions(image('keyword-cats'), ['cats cats cats', 'no match']);
    await images.softDelete(more.image.id);
    await images.insertWithCaptions(image('keyword-cat-2'), ['one more cat']);
    expect(await scores([one])).toEqual(expected);
    const byImage = await captions.imageKeywordScores('cat', { limit: 5, among: [cat.image.id] });
    expect(byImage.filter((r) => r.id === cat.image.id)).toEqual([
      { id: cat.image.id, score: Math.fround(2 / 3) },
    ]);
  });

  it.skipIf(skip)('keeps hostile strings as data, never as SQL', async () => {
    const images = new ImagesRepository(db);
    const evil = "x'); DROP TABLE images; --";
    const before = await images.countLive();
    const rec = await images.insertWithCaptions(image('evil', { metadata: { note: evil } }), [evil]);
    expect(await images.filterIds({ metadata: { note: evil } }, 10)).toEqual([rec.image.id]);
    // Searched as words: the hostile caption itself is found by them, restricted to it exactly.
    const hits = await new CaptionsRepository(db).keywordScores(evil, {
      limit: 5,
      among: [rec.captions[0]!.id],
    });
    expect(hits.map((h) => h.id)).toEqual([rec.captions[0]!.id]);
    expect(await images.countLive()).toBe(before + 1);
  });
});

describe('migrations [postgres]', () => {
  const skip = announceSkip(backends[0]!, 'migrations');

  it.skipIf(skip)('lets exactly one of two processes starting together apply each migration', async () => {
    const { db: first, url, dispose } = await backends[0]!.open();
    const second = await openPgDb(url!);
    try {
      const results = await Promise.all([migrate(first), migrate(second)]);
      const all = (await readMigrations()).map((m) => m.name);
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, all.length]);
      const rows = await first.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows[0]!.n).toBe(all.length);
    } finally {
      await second.close();
      await dispose();
    }
  });

  it.skipIf(skip)('leaves nothing half-applied when a migration fails', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cms-mig-'));
    await writeFile(path.join(dir, '001_ok.sql'), 'CREATE TABLE ok_t (id int);');
    await writeFile(
      path.join(dir, '002_bad.sql'),
      'CREATE TABLE bad_t (id int); SELECT nonsense FROM nowhere;',
    );
    const { db, dispose } = await backends[0]!.open();
    try {
      await expect(migrate(db, { dir })).rejects.toThrow(/002_bad\.sql/);
      const tables = await db.query<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_name IN ('ok_t','bad_t')",
      );
      expect(tables.map((r) => r.t)).toEqual(['ok_t']);
    } finally {
      await dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the project migrations in order', async () => {
    const m = await readMigrations(MIGRATIONS_DIR);
    expect(m[0]?.name).toBe('001_initial.sql');
    expect(m.map((x) => x.version)).toEqual([...m.map((x) => x.version)].sort((a, b) => a - b));
  });
});
