/**
 * Issue 13, item 8 (rest): a caption whose full-text form is over PostgreSQL's 1 MB tsvector limit
 * is LIMIT_EXCEEDED (it was INTERNAL_SERVER_ERROR) on both backends, and an add that carried it
 * leaves no row and no file in uploads/.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptionsRepository } from '../../src/store/captions.repository.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import { announceSkip, backends, useMigratedDb } from '../setup/databases.ts';
import { startTestApp, writerOf, type TestApp } from './fixture.ts';

/** ~1 MB of distinct words: its tsvector (lexemes, positions, entries) is well over 1 MB. */
const HUGE = Array.from({ length: 130_000 }, (_, i) => `w${i.toString(36)}q`).join(' ');
const MESSAGE =
  'A caption is too long to index for full-text search (its tsvector form is over the 1 MB limit)';

describe.each(backends)('a caption over the tsvector limit [$name]', (backend) => {
  const skip = announceSkip(backend, 'caption tsvector limit');
  const db = useMigratedDb(backend, skip);

  it.skipIf(skip)('is LIMIT_EXCEEDED from both insert paths, and nothing is stored', async () => {
    const image = { sha256: 'a'.repeat(64), uri: 'upload:x', width: 1, height: 1, format: 'png', bytes: 1 };
    // As the ingest store calls it: in one transaction with its captions.
    const insert = (captions: string[]) =>
      db.get().transaction((tx) => new ImagesRepository(tx).insertWithCaptions(image, captions));
    await expect(insert([HUGE])).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', message: MESSAGE });
    expect(await new ImagesRepository(db.get()).findIdsByHashes([image.sha256])).toEqual(new Map());
    const { image: stored } = await insert(['small']);
    const captions = new CaptionsRepository(db.get());
    await expect(captions.add(stored.id, [HUGE])).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    await expect(captions.addMissing(stored.id, [HUGE])).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect((await captions.getByImageIds([stored.id])).get(stored.id)!.map((c) => c.text)).toEqual(['small']);
  });
});

describe('an upload carrying such a caption', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ n: 2 });
  });
  afterAll(async () => t?.close());

  it('answers LIMIT_EXCEEDED and leaves no image row and no orphan file', async () => {
    // The writer, past the resolver's MAX_QUERY_TEXT check: the database limit holds on its own.
    const writer = writerOf(t.app);
    const bytes = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#a0522d' } })
      .png()
      .toBuffer();
    const uploads = async () => (await readdir(path.join(t.dataDir, 'uploads')).catch(() => [])).sort();
    const [before, rowsBefore] = [await uploads(), await t.app.db.query('SELECT id FROM images')];
    await expect(writer.addImage({ bytes, captions: [HUGE], metadata: {} })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: MESSAGE,
    });
    expect(await uploads()).toEqual(before);
    expect(await t.app.db.query('SELECT id FROM images')).toEqual(rowsBefore);
  });
});
