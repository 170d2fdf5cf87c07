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
    await bad(await file('m1/manifest.jsonl', '{not json\n'));
    await bad(await file('m2/manifest.jsonl', '{"image": "../../etc/passwd", "captions": ["x"]}\n'));
    await bad(await file('m3/manifest.jsonl', '{"image": "a.png", "captions": "not a list"}\n'));
    await bad(await file('m4/manifest.jsonl', '\n'));
    await bad(await file('m5/data.parquet', 'x'));
  });

  it('skips a broken manifest line with a warning and keeps the good ones', async () => {
    const warnings: string[] = [];
    const p = await file('m6/manifest.jsonl', '{"image": "a.png", "captions": ["x"]}\n{not json\n');
    const data = await loadPairedData(p, { onWarning: (m) => warnings.push(m) });
    expect(data.items.map((i) => [path.basename(i.imagePath), i.captions])).toEqual([['a.png', ['x']]]);
    expect(warnings).toEqual([
      expect.stringMatching(/^skipped line:2: SOURCE_INVALID: manifest\.jsonl line 2: /),
    ]);
  });
});

describe('paired data: the same grouping, paths and errors as the indexer', () => {
  it('makes rows that share an image path one gallery image', async () => {
    const p = await file(
      'g/manifest.jsonl',
      ['a.png|a dog', 'b.png|a cat', 'a.png|a brown dog']
        .map((r) => JSON.stringify({ image: r.split('|')[0], captions: [r.split('|')[1]] }))
        .join('\n'),
    );
    const data = await loadPairedData(p);
    expect(data.items.map((i) => [path.basename(i.imagePath), i.captions])).toEqual([
      ['b.png', ['a cat']],
      ['a.png', ['a dog', 'a brown dog']],
    ]);
  });

  it('chooses the Flickr format by file: a | in a .token caption stays caption, a malformed row is skipped with a warning', async () => {
    await mkdir(path.join(temp.dir, 'ft/flickr30k_images'), { recursive: true });
    const token = await file(
      'ft/results_20130124.token',
      '1.jpg#0\tA man | a sign .\n2.jpg#0\tTwo dogs .\nno tab here\n1.jpg#1\tA person .\n',
    );
    const warnings: string[] = [];
    const data = await loadPairedData(token, { onWarning: (m) => warnings.push(m) });
    expect(data.items.map((i) => [i.imagePath, i.captions])).toEqual([
      [path.join(temp.dir, 'ft/flickr30k_images/2.jpg'), ['Two dogs .']],
      [path.join(temp.dir, 'ft/flickr30k_images/1.jpg'), ['A man | a sign .', 'A person .']],
    ]);
    expect(warnings).toEqual(['results_20130124.token line 3 skipped: no tab between image#n and caption']);
  });

  it('reads a Flickr results.csv with a BOM and a row missing its second separator, images in flickr30k_images/', async () => {
    await mkdir(path.join(temp.dir, 'fc/flickr30k_images'), { recursive: true });
    const csv = await file(
      'fc/results.csv',
      '\uFEFFimage_name| comment_number| comment\n1.jpg| 0| A man .\n2.jpg| Two dogs .\n2.jpg| 1| Dogs | play .\n',
    );
    const warnings: string[] = [];
    const data = await loadPairedData(csv, { onWarning: (m) => warnings.push(m) });
    expect(data.items.map((i) => [i.imagePath, i.captions])).toEqual([
      [path.join(temp.dir, 'fc/flickr30k_images/1.jpg'), ['A man .']],
      [path.join(temp.dir, 'fc/flickr30k_images/2.jpg'), ['Dogs | play .']],
    ]);
    expect(warnings).toEqual(['results.csv line 3 skipped: expected "image_name| comment_number| comment"']);
  });

  it('finds COCO images in val2017/ beside annotations/, reads a BOM, and falls back to <folder>/images', async () => {
    const coco = JSON.stringify({
      images: [{ id: 1, file_name: 'a.jpg' }],
      annotations: [{ image_id: 1, caption: 'a dog' }],
    });
    await mkdir(path.join(temp.dir, 'cv/val2017'), { recursive: true });
    const beside = await file('cv/annotations/captions_val2017.json', `\uFEFF${coco}`);
    expect((await loadPairedData(beside)).items.map((i) => i.imagePath)).toEqual([
      path.join(temp.dir, 'cv/val2017/a.jpg'),
    ]);
    await mkdir(path.join(temp.dir, 'ci/images'), { recursive: true });
    const plain = await file('ci/captions.json', coco);
    expect((await loadPairedData(plain)).items.map((i) => i.imagePath)).toEqual([
      path.join(temp.dir, 'ci/images/a.jpg'),
    ]);
  });

  it('gives SOURCE_INVALID, not a crash, for a COCO file with the wrong schema', async () => {
    const p = await file(
      'cs/captions.json',
      JSON.stringify({ images: [{ id: 1 }], annotations: [{ image_id: 1, caption: 'no file_name' }] }),
    );
    await expect(loadPairedData(p)).rejects.toSatisfy((e) => isAppError(e, 'SOURCE_INVALID'));
  });

  it('accepts a JSONL manifest that starts with a UTF-8 BOM', async () => {
    const p = await file(
      'bom/manifest.jsonl',
      `\uFEFF${JSON.stringify({ image: 'a.png', captions: ['x'] })}\n`,
    );
    expect((await loadPairedData(p)).items.map((i) => i.captions)).toEqual([['x']]);
  });
});
