import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cocoSource,
  flickrSource,
  jsonlSource,
  openSource,
  type Source,
} from '../../src/media/sources/index.ts';

/** Rows of one image anywhere in a file, malformed rows, duplicate ids and byte-order marks. */

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sources-rows-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function put(name: string, text: string): Promise<string> {
  const file = path.join(root, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

async function captionsByKey(source: Source): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  for await (const item of source.items()) out.push([item.key, item.captions]);
  return out;
}

describe('Flickr30k rows', () => {
  it('groups captions sorted by comment number (not consecutive) into one item per image', async () => {
    const file = await put(
      'sorted/results.csv',
      'image_name| comment_number| comment\n1.jpg| 0| a\n2.jpg| 0| b\n1.jpg| 1| c\n2.jpg| 1| d\n',
    );
    const source = await flickrSource(file);
    expect(await captionsByKey(source)).toEqual([
      ['flickr30k:1.jpg', ['a', 'c']],
      ['flickr30k:2.jpg', ['b', 'd']],
    ]);
    expect(await source.count()).toBe(2);
  });

  it('reports and skips a csv row missing its second separator, once, and reads a BOM header', async () => {
    const warnings: string[] = [];
    const file = await put(
      'bad/results.csv',
      '\uFEFFimage_name| comment_number| comment\n1.jpg| 0| a | b\n2.jpg| only one separator\n',
    );
    const source = await flickrSource(file, { onWarning: (m) => warnings.push(m) });
    expect(await captionsByKey(source)).toEqual([['flickr30k:1.jpg', ['a | b']]]);
    expect(await source.count()).toBe(1);
    expect(warnings).toEqual(['results.csv line 3 skipped: expected "image_name| comment_number| comment"']);
  });

  it('chooses the token format from the first line of a file that is not named .token (Flickr8k.token.txt)', async () => {
    const file = await put('tok/Flickr8k.token.txt', '1.jpg#0\tA man | a sign .\n1.jpg#1\tA person .\n');
    expect(await captionsByKey(await openSource(file))).toEqual([
      ['flickr30k:1.jpg', ['A man | a sign .', 'A person .']],
    ]);
  });
});

describe('JSONL rows', () => {
  it('merges lines naming one image, says so once, and reads a BOM on the first line', async () => {
    const warnings: string[] = [];
    const lines = ['a.png|x', 'b.png|y', 'a.png|z'].map((r) =>
      JSON.stringify({ image: r.split('|')[0], captions: [r.split('|')[1]] }),
    );
    const file = await put('m/manifest.jsonl', `\uFEFF${lines.join('\n')}\n`);
    const source = await jsonlSource(file, { onWarning: (m) => warnings.push(m) });
    expect(await captionsByKey(source)).toEqual([
      ['b.png', ['y']],
      ['a.png', ['x', 'z']],
    ]);
    expect(warnings).toEqual(['manifest.jsonl: 1 images named on several lines, each merged into one']);
  });
});

describe('COCO ids', () => {
  it('warns on a duplicated image id and keeps its captions with the first file; a BOM is accepted', async () => {
    const warnings: string[] = [];
    const file = await put(
      'coco/captions.json',
      `\uFEFF${JSON.stringify({
        images: [
          { id: 1, file_name: 'a.jpg' },
          { id: 1, file_name: 'b.jpg' },
        ],
        annotations: [{ image_id: 1, caption: 'a dog' }],
      })}`,
    );
    const source = await cocoSource(file, { onWarning: (m) => warnings.push(m) });
    expect(await captionsByKey(source)).toEqual([['coco:1', ['a dog']]]);
    expect(await source.count()).toBe(1);
    expect(warnings).toEqual([
      'captions.json: image id 1 is listed again for b.jpg; its captions stay with a.jpg',
    ]);
  });

  it('merges two ids that name the same file into one image, with a warning', async () => {
    const warnings: string[] = [];
    const file = await put(
      'coco-same/captions.json',
      JSON.stringify({
        images: [
          { id: 1, file_name: 'a.jpg' },
          { id: 2, file_name: 'b.jpg' },
          { id: 3, file_name: 'a.jpg' },
        ],
        annotations: [
          { image_id: 3, caption: 'from id 3' },
          { image_id: 1, caption: 'from id 1' },
          { image_id: 2, caption: 'b' },
        ],
      }),
    );
    const source = await cocoSource(file, { onWarning: (m) => warnings.push(m) });
    expect(await captionsByKey(source)).toEqual([
      ['coco:1', ['from id 3', 'from id 1']],
      ['coco:2', ['b']],
    ]);
    expect(warnings).toEqual(['captions.json: image ids 1 and 3 both name a.jpg; merged into one image']);
  });
});
