import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { CaptionsRepository, ImagesRepository, type Db } from '../../src/store/index.ts';
import { announceSkip, backends, useMigratedDb } from '../setup/databases.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe.each(backends.map((b) => [b.name, b] as const))(
  'ImagesRepository.getByIdsWithCaptions [%s]',
  (_name, backend) => {
    const skip = announceSkip(backend, 'hydration');
    const database = useMigratedDb(backend, skip);
    let db: Db;
    beforeEach(() => {
      if (!skip) db = database.get();
    });

    it.skipIf(skip)(
      'hydrates images with their captions in the order asked, leaving out deleted and unknown ids',
      async () => {
        const images = new ImagesRepository(db);
        const add = (name: string, captions: string[]) =>
          images.insertWithCaptions(
            {
              sha256: sha(name),
              uri: `file:///x/${name}.png`,
              width: 4,
              height: 3,
              format: 'png',
              bytes: 10,
              metadata: { name },
            },
            captions,
          );
        const a = await add('a', ['first of a', 'second of a']);
        const b = await add('b', []);
        const c = await add('c', ['only c']);
        await images.softDelete(c.image.id);
        const extra = await new CaptionsRepository(db).add(a.image.id, ['third of a']);

        const got = await images.getByIdsWithCaptions([b.image.id, 999_999, c.image.id, a.image.id]);
        expect(got.map((g) => g.id)).toEqual([b.image.id, a.image.id]);
        expect(got[0]).toEqual({ ...(await images.getByIds([b.image.id]))[0], captions: [] });
        expect(got[1]!.captions).toEqual([...a.captions, ...extra]);
        expect(got[1]!.metadata).toEqual({ name: 'a' });
        expect(got[1]!.captions[0]!.createdAt).toBeInstanceOf(Date);
        expect(await images.getByIdsWithCaptions([])).toEqual([]);
      },
    );
  },
);
