import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cocoSource,
  directorySource,
  flickrSource,
  jsonlSource,
  openSource,
  type Source,
  type SourceItem,
} from '../../src/media/sources/index.ts';

let root: string;
let outside: string;
let png: Buffer;

async function collect(source: Source): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  for await (const item of source.items()) items.push(item);
  return items;
}

async function readOutcome(item: SourceItem): Promise<string> {
  try {
    const bytes = await item.read();
    return `ok:${bytes.length}`;
  } catch (error) {
    return `${(error as { code?: string }).code}`;
  }
}

async function put(file: string, data: string | Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, data);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sources-'));
  outside = await mkdtemp(path.join(os.tmpdir(), 'sources-outside-'));
  png = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#c04020' } })
    .png()
    .toBuffer();
  await put(path.join(outside, 'secret.png'), png);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('directory source', () => {
  it('walks recursively, keeps image extensions only and reads sidecar captions', async () => {
    const dir = path.join(root, 'dir');
    await put(path.join(dir, 'b.png'), png);
    await put(path.join(dir, 'b.txt'), 'a red square\n\n  second caption  \n');
    await put(path.join(dir, 'nested/deeper/a.JPG'), png);
    await put(path.join(dir, 'nested/deeper/a.JPG.txt'), 'from the long sidecar name');
    await put(path.join(dir, 'nested/notes.md'), '# not an image');
    await put(path.join(dir, 'c.webp'), png);
    await symlink(path.join(outside, 'secret.png'), path.join(dir, 'escape.png'));
    const source = await directorySource(dir);
    const items = await collect(source);
    expect(source.id).toBe(`dir:${dir}`);
    expect(await source.count()).toBe(4);
    expect(items.map((i) => [i.key, i.captions])).toEqual([
      ['b.png', ['a red square', 'second caption']],
      ['c.webp', []],
      ['escape.png', []],
      ['nested/deeper/a.JPG', ['from the long sidecar name']],
    ]);
    expect(items[0]!.uri).toBe(`file://${path.join(dir, 'b.png')}`);
    expect(await Promise.all(items.map(readOutcome))).toEqual([
      `ok:${png.length}`,
      `ok:${png.length}`,
      'FORBIDDEN',
      `ok:${png.length}`,
    ]);
  });

  it('refuses a path that is not a directory', async () => {
    await expect(directorySource(path.join(root, 'nope'))).rejects.toMatchObject({ code: 'SOURCE_INVALID' });
  });
});

describe('JSONL manifest source', () => {
  it('yields one item per image with captions and metadata; bad lines and escaping paths fail with a reason', async () => {
    const dir = path.join(root, 'jsonl');
    await put(path.join(dir, 'images/one.png'), png);
    await put(path.join(dir, 'big.png'), Buffer.alloc(2048, 1));
    const lines = [
      JSON.stringify({ image: 'images/one.png', captions: ['first', ' '], metadata: { tag: 'x' } }),
      '',
      JSON.stringify({ image: '../../etc/passwd', captions: ['nope'] }),
      JSON.stringify({ image: path.join(outside, 'secret.png') }),
      JSON.stringify({ image: path.join(dir, 'images/one.png'), captions: ['absolute but inside'] }),
      '{ this is not json',
      JSON.stringify({ captions: ['no image'] }),
      JSON.stringify({ image: 'images/missing.png' }),
      JSON.stringify({ image: 'big.png' }),
      JSON.stringify({ image: 'http://example.com/x.png' }),
    ];
    await put(path.join(dir, 'manifest.jsonl'), lines.join('\n'));
    const source = await jsonlSource(path.join(dir, 'manifest.jsonl'), { maxBytes: 1024 });
    const items = await collect(source);
    expect(await source.count()).toBe(8);
    // Lines 1 and 5 name the same file: one item, emitted once its last line has been read.
    expect(items.map((i) => i.key)).toEqual([
      '../../etc/passwd',
      path.join(outside, 'secret.png'),
      'images/one.png',
      'line:6',
      'line:7',
      'images/missing.png',
      'big.png',
      'http://example.com/x.png',
    ]);
    expect(items[2]).toMatchObject({
      captions: ['first', 'absolute but inside'],
      metadata: { tag: 'x' },
      uri: `file://${path.join(dir, 'images/one.png')}`,
    });
    expect(await Promise.all(items.map(readOutcome))).toEqual([
      'FORBIDDEN',
      'FORBIDDEN',
      `ok:${png.length}`,
      'SOURCE_INVALID',
      'SOURCE_INVALID',
      'NOT_FOUND',
      'LIMIT_EXCEEDED',
      'FORBIDDEN',
    ]);
    await expect(items[3]!.read()).rejects.toThrow(/line 6/);
  });

  it('streams a large manifest: items of single-line images come out one by one, in file order', async () => {
    const dir = path.join(root, 'jsonl-large');
    const lines = Array.from({ length: 200_000 }, (_, i) =>
      JSON.stringify({ image: `x${i}.png`, captions: ['c'] }),
    );
    await put(path.join(dir, 'm.jsonl'), `${lines.join('\n')}\n{ broken at the end`);
    const source = await jsonlSource(path.join(dir, 'm.jsonl'));
    const first: SourceItem[] = [];
    for await (const item of source.items()) {
      first.push(item);
      if (first.length === 3) break;
    }
    expect(first.map((i) => i.key)).toEqual(['x0.png', 'x1.png', 'x2.png']);
  });
});

describe('COCO captions source', () => {
  it('groups annotations by image id and finds the image directory beside annotations/', async () => {
    const dir = path.join(root, 'coco');
    await put(path.join(dir, 'val2017/000000000139.png'), png);
    await put(path.join(dir, 'val2017/000000000285.png'), png);
    await put(
      path.join(dir, 'annotations/captions_val2017.json'),
      JSON.stringify({
        info: {},
        images: [
          { id: 139, file_name: '000000000139.png', width: 8, height: 6 },
          { id: 285, file_name: '000000000285.png', width: 8, height: 6 },
          { id: 9, file_name: '../../../etc/passwd' },
        ],
        annotations: [
          { id: 1, image_id: 139, caption: 'A living room. ' },
          { id: 2, image_id: 285, caption: 'A big bear.' },
          { id: 3, image_id: 139, caption: 'Chairs and a TV.' },
        ],
      }),
    );
    const source = await openSource(path.join(dir, 'annotations/captions_val2017.json'));
    expect(source.format).toBe('coco');
    const items = await collect(source);
    expect(await source.count()).toBe(3);
    expect(items.map((i) => [i.key, i.captions, i.metadata])).toEqual([
      ['coco:139', ['A living room.', 'Chairs and a TV.'], { cocoId: 139, fileName: '000000000139.png' }],
      ['coco:285', ['A big bear.'], { cocoId: 285, fileName: '000000000285.png' }],
      ['coco:9', [], { cocoId: 9, fileName: '../../../etc/passwd' }],
    ]);
    expect(await Promise.all(items.map(readOutcome))).toEqual([
      `ok:${png.length}`,
      `ok:${png.length}`,
      'FORBIDDEN',
    ]);
  });

  it('rejects a JSON file that is not COCO captions', async () => {
    await put(path.join(root, 'not-coco.json'), JSON.stringify({ hello: 1 }));
    await expect(cocoSource(path.join(root, 'not-coco.json'))).rejects.toMatchObject({
      code: 'SOURCE_INVALID',
    });
  });
});

describe('Flickr30k source', () => {
  it('reads results.csv (pipe separated, header, | inside captions) with images in flickr30k_images/', async () => {
    const dir = path.join(root, 'flickr');
    await put(path.join(dir, 'flickr30k_images/1000092795.jpg'), png);
    await put(path.join(dir, 'flickr30k_images/10002456.jpg'), png);
    await put(
      path.join(dir, 'results.csv'),
      [
        'image_name| comment_number| comment',
        '1000092795.jpg| 0| Two young guys with shaggy hair .',
        '1000092795.jpg| 1| Two friends | enjoy time .',
        '10002456.jpg| 0| Several men in hard hats .',
        '',
      ].join('\n'),
    );
    const source = await flickrSource(path.join(dir, 'results.csv'));
    const items = await collect(source);
    expect(await source.count()).toBe(2);
    expect(items.map((i) => [i.key, i.captions])).toEqual([
      ['flickr30k:1000092795.jpg', ['Two young guys with shaggy hair .', 'Two friends | enjoy time .']],
      ['flickr30k:10002456.jpg', ['Several men in hard hats .']],
    ]);
    expect(await readOutcome(items[1]!)).toBe(`ok:${png.length}`);
  });

  it('reads results_20130124.token with an explicit image directory', async () => {
    const dir = path.join(root, 'flickr-token');
    await put(path.join(dir, 'imgs/1.jpg'), png);
    await put(
      path.join(dir, 'results_20130124.token'),
      '1.jpg#0\tA dog runs .\n1.jpg#1\tA brown dog .\n2.jpg#0\tMissing image .\n../x.jpg#0\tEscape .\n',
    );
    const source = await openSource(path.join(dir, 'results_20130124.token'), {
      imagesDir: path.join(dir, 'imgs'),
    });
    expect(source.format).toBe('flickr30k');
    const items = await collect(source);
    expect(items.map((i) => [i.key, i.captions.length])).toEqual([
      ['flickr30k:1.jpg', 2],
      ['flickr30k:2.jpg', 1],
      ['flickr30k:../x.jpg', 1],
    ]);
    expect(await Promise.all(items.map(readOutcome))).toEqual([`ok:${png.length}`, 'NOT_FOUND', 'FORBIDDEN']);
  });
});

describe('openSource', () => {
  it('refuses a path it cannot classify or that does not exist', async () => {
    await put(path.join(root, 'thing.bin'), 'x');
    await expect(openSource(path.join(root, 'thing.bin'))).rejects.toMatchObject({ code: 'SOURCE_INVALID' });
    await expect(openSource(path.join(root, 'absent'))).rejects.toMatchObject({ code: 'SOURCE_INVALID' });
  });
});
