import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CaptionsRepository, ImagesRepository, type NewImage } from '../../src/store/index.ts';
import { MAX_BATCH } from '../../src/store/limits.ts';
import { announceSkip, backends, useMigratedDb } from '../setup/databases.ts';

const image = (name: string, format: string): NewImage => ({
  sha256: createHash('sha256').update(name).digest('hex'),
  uri: `file:///photos/${name}.${format}`,
  width: 640,
  height: 480,
  format,
  bytes: 1000,
  metadata: { set: 'filtered-ids' },
});

// Images and captions answer the filtered search's two questions through one query each: which ids
// match (filterIds) and which of these candidates match (filterAmong), always by the image's fields.
describe.each(backends.map((b) => [b.name, b] as const))('filtered ids [%s]', (_name, backend) => {
  const skip = announceSkip(backend, 'filtered ids');
  const database = useMigratedDb(backend, skip);

  it.skipIf(skip)(
    'images and captions list the ids whose live image matches, ascending, within the limit',
    async () => {
      const db = database.get();
      const images = new ImagesRepository(db);
      const captions = new CaptionsRepository(db);
      const png = await images.insertWithCaptions(image('a', 'png'), ['first of a', 'second of a']);
      const jpeg = await images.insertWithCaptions(image('b', 'jpeg'), ['only of b']);
      const gone = await images.insertWithCaptions(image('c', 'png'), ['only of c']);
      await images.softDelete(gone.image.id);
      const filter = { metadata: { set: 'filtered-ids' }, formats: ['png'] };
      const [first, second] = png.captions.map((c) => c.id) as [number, number];

      expect(await images.filterIds(filter, 10)).toEqual([png.image.id]);
      expect(await images.filterIds({ metadata: filter.metadata }, 10)).toEqual([
        png.image.id,
        jpeg.image.id,
      ]);
      expect(await images.filterIds(filter, 0)).toEqual([]);
      expect(await captions.filterIds(filter, 10)).toEqual([first, second]);
      expect(await captions.filterIds(filter, 1)).toEqual([first]);
      expect(await captions.filterIds({ metadata: filter.metadata }, 10)).toEqual([
        first,
        second,
        jpeg.captions[0]!.id,
      ]);

      const candidates = [gone.image.id, jpeg.image.id, png.image.id, 999_999_999];
      expect(await images.filterAmong(candidates, filter)).toEqual([png.image.id]);
      expect(await images.filterAmong([], filter)).toEqual([]);
      const captionCandidates = [gone.captions[0]!.id, jpeg.captions[0]!.id, second, first];
      expect(await captions.filterAmong(captionCandidates, filter)).toEqual([first, second]);
      expect(await captions.filterAmong([jpeg.captions[0]!.id], filter)).toEqual([]);
    },
  );

  it.skipIf(skip)('refuses a limit or a candidate list past the batch bound as LIMIT_EXCEEDED', async () => {
    const db = database.get();
    const captions = new CaptionsRepository(db);
    const images = new ImagesRepository(db);
    const tooMany = Array.from({ length: MAX_BATCH + 1 }, (_, i) => i + 1);
    await expect(captions.filterIds(undefined, -1)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    await expect(images.filterIds(undefined, MAX_BATCH + 1)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });
    await expect(captions.filterAmong(tooMany, undefined)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    await expect(images.filterAmong(tooMany, undefined)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });
});
