import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { karpathySource, openSource, type Source, type SourceItem } from '../../src/media/sources/index.ts';
import { loadPairedData } from '../../src/train/paired-data.ts';
import { karpathyEntry, writeKarpathyFixture } from './karpathy-fixture.ts';

let dir: string;
let fixture: Awaited<ReturnType<typeof writeKarpathyFixture>>;
const SPLITS = ['train', 'restval', 'val', 'test', 'test', 'train'];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'karpathy-'));
  fixture = await writeKarpathyFixture(dir, SPLITS, [
    { filepath: 'val2014', split: 'test', sentences: [{ raw: 'no filename' }] },
    42,
    { filepath: 'val2014', filename: 'img_9.png', split: 'test', sentences: 'not a list' },
    { filepath: '../..', filename: 'etc/passwd', split: 'test', sentences: [{ raw: 'escape' }] },
    karpathyEntry(10, 'test', 'val2014'),
  ]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function collect(source: Source): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  for await (const item of source.items()) items.push(item);
  return items;
}

async function outcome(item: SourceItem): Promise<string> {
  try {
    return `ok:${(await item.read()).length > 0}`;
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('Karpathy split reader', () => {
  it('yields the chosen split with five captions, images under the root with their filepath folder', async () => {
    const source = await karpathySource(fixture.file, { imagesDir: fixture.images, split: 'train+restval' });
    // Entries 6-8 have no split to select by; they are still yielded, as failures.
    const items = (await collect(source)).filter((i) => !i.key.startsWith('karpathy:entry:'));
    expect(items.map((i) => [i.key, i.file, i.captions.length, i.metadata])).toEqual([
      [
        'karpathy:val2014/img_0.png',
        path.join(fixture.images, 'val2014/img_0.png'),
        5,
        { split: 'train', karpathyImage: 'val2014/img_0.png', cocoId: 1000 },
      ],
      [
        'karpathy:train2014/img_1.png',
        path.join(fixture.images, 'train2014/img_1.png'),
        5,
        { split: 'restval', karpathyImage: 'train2014/img_1.png', cocoId: 1001 },
      ],
      [
        'karpathy:train2014/img_5.png',
        path.join(fixture.images, 'train2014/img_5.png'),
        5,
        { split: 'train', karpathyImage: 'train2014/img_5.png', cocoId: 1005 },
      ],
    ]);
    expect(items[0]!.captions[0]).toBe('picture 0: a red square, caption 0');
    expect(await Promise.all(items.map(outcome))).toEqual(['ok:true', 'ok:true', 'ok:true']);
    expect(await source.count()).toBe(6);
  });

  it('reports bad entries as failing items with the reason, and goes on to the next entry', async () => {
    const source = await openSource(fixture.file, { split: 'test' });
    const items = await collect(source);
    expect(items.map((i) => i.key)).toEqual([
      'karpathy:train2014/img_3.png',
      'karpathy:val2014/img_4.png',
      'karpathy:entry:6',
      'karpathy:entry:7',
      'karpathy:entry:8',
      'karpathy:../../etc/passwd',
      'karpathy:val2014/img_10.png',
    ]);
    // The images root defaults to images/ beside the file.
    expect(await Promise.all(items.map(outcome))).toEqual([
      'ok:true',
      'ok:true',
      'SOURCE_INVALID',
      'SOURCE_INVALID',
      'SOURCE_INVALID',
      'FORBIDDEN',
      'NOT_FOUND',
    ]);
    const reasons = await Promise.all(items.slice(2, 5).map((i) => i.read().catch((e: Error) => e.message)));
    expect(reasons).toEqual([
      'dataset_coco.json entry 6: filename: Invalid input: expected string, received undefined',
      'dataset_coco.json entry 7 is not an object',
      'dataset_coco.json entry 8: sentences: Invalid input: expected array, received string',
    ]);
  });

  it('streams entries across read chunks, with braces and escaped quotes inside captions, after a BOM', async () => {
    const entries = Array.from({ length: 6000 }, (_, i) => {
      const e = karpathyEntry(i, i % 5 === 0 ? 'test' : 'train', 'val2014');
      e.sentences[0]!.raw = `a "quoted" {brace} [bracket] \\ caption ${i}`;
      return e;
    });
    const big = path.join(dir, 'big', 'dataset_coco.json');
    await rm(path.dirname(big), { recursive: true, force: true });
    await mkdir(path.dirname(big));
    const text = `\uFEFF{"dataset": "coco", "images": ${JSON.stringify(entries)}}`;
    expect(text.length).toBeGreaterThan(3 << 20);
    await writeFile(big, text);
    const source = await karpathySource(big, { split: 'test' });
    const items = await collect(source);
    expect(items.length).toBe(1200);
    expect(items.map((i) => i.captions[0])).toEqual(
      entries.filter((e) => e.split === 'test').map((e) => e.sentences[0]!.raw),
    );
  });

  it('refuses a file with no images array with SOURCE_INVALID', async () => {
    const file = path.join(dir, 'dataset_empty.json');
    await writeFile(file, '{"dataset": "coco", "annotations": []}');
    await expect(collect(await karpathySource(file))).rejects.toSatisfy((e) =>
      isAppError(e, 'SOURCE_INVALID'),
    );
  });

  it('gives the trainer train, val and test splits, restval counted as training data', async () => {
    const warnings: string[] = [];
    const data = await loadPairedData(fixture.file, { onWarning: (m) => warnings.push(m) });
    expect(data.format).toBe('karpathy');
    expect(data.items.map((i) => [path.relative(fixture.images, i.imagePath), i.split])).toEqual([
      ['val2014/img_0.png', 'train'],
      ['train2014/img_1.png', 'train'],
      ['val2014/img_2.png', 'val'],
      ['train2014/img_3.png', 'test'],
      ['val2014/img_4.png', 'test'],
      ['train2014/img_5.png', 'train'],
      ['val2014/img_10.png', 'test'],
    ]);
    expect(warnings).toEqual([
      'skipped karpathy:entry:6: SOURCE_INVALID: dataset_coco.json entry 6: filename: Invalid input: expected string, received undefined',
      'skipped karpathy:entry:7: SOURCE_INVALID: dataset_coco.json entry 7 is not an object',
      'skipped karpathy:entry:8: SOURCE_INVALID: dataset_coco.json entry 8: sentences: Invalid input: expected array, received string',
      expect.stringMatching(/^skipped karpathy:\.\.\/\.\.\/etc\/passwd: FORBIDDEN: /),
    ]);
  });
});
