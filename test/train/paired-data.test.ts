import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { loadPairedData } from '../../src/train/paired-data.ts';
import { tempConfig } from './helpers.ts';

const temp = await tempConfig();
afterAll(() => temp.cleanup());
const file = async (name: string, text: string) => {
  const p = path.join(temp.dir, name);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
  return p;
};

describe('paired data reader', () => {
  it('reads COCO captions, grouping several captions per image', async () => {
    const p = await file(
      'coco/captions.json',
      JSON.stringify({
        images: [
          { id: 1, file_name: 'a.jpg' },
          { id: 2, file_name: 'b.jpg' },
          { id: 3, file_name: 'no-captions.jpg' },
        ],
        annotations: [
          { image_id: 1, caption: 'a dog' },
          { image_id: 2, caption: 'a cat' },
          { image_id: 1, caption: 'a brown dog ' },
        ],
      }),
    );
    const data = await loadPairedData(p, { imagesDir: path.join(temp.dir, 'coco', 'imgs') });
    expect(data.items.map((i) => [path.basename(i.imagePath), i.captions])).toEqual([
      ['a.jpg', ['a dog', 'a brown dog']],
      ['b.jpg', ['a cat']],
    ]);
    expect(data.items[0]!.imagePath).toBe(path.join(temp.dir, 'coco', 'imgs', 'a.jpg'));
  });

  it('reads Flickr30k results.csv and the .token format', async () => {
    const csv = await file(
      'f/results.csv',
      'image_name| comment_number| comment\n1.jpg| 0| A man .\n1.jpg| 1| A person .\n2.jpg| 0| Two dogs .\n',
    );
    expect((await loadPairedData(csv)).items.map((i) => i.captions)).toEqual([
      ['A man .', 'A person .'],
      ['Two dogs .'],
    ]);
    const token = await file('f/results_20130124.token', '1.jpg#0\tA man .\n1.jpg#1\tA person .\n');
    expect((await loadPairedData(token)).items[0]!.captions).toEqual(['A man .', 'A person .']);
  });

  it('refuses missing files, broken lines and paths that leave the folder with SOURCE_INVALID', async () => {
    const bad = async (p: string) =>
      expect(loadPairedData(p)).rejects.toSatisfy((e) => isAppError(e, 'SOURCE_INVALID'));
    await bad(path.join(temp.dir, 'missing.jsonl'));
    await bad(await file('m1/manifest.jsonl', '{"image": "a.png", "captions": ["x"]}\n{not json\n'));
    await bad(await file('m2/manifest.jsonl', '{"image": "../../etc/passwd", "captions": ["x"]}\n'));
    await bad(await file('m3/manifest.jsonl', '{"image": "a.png", "captions": "not a list"}\n'));
    await bad(await file('m4/manifest.jsonl', '\n'));
    await bad(await file('m5/data.parquet', 'x'));
  });
});
