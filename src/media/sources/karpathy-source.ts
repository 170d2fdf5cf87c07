import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { streamJsonArray, type ArrayElement } from './json-array-stream.ts';
import { DEFAULT_MAX_BYTES, failingRead, fileUri, readFileInside, resolveInside } from './safe-path.ts';
import type { Source, SourceItem, SourceOptions } from './types.ts';

export const KARPATHY_SPLITS = ['train', 'restval', 'val', 'test', 'train+restval', 'all'] as const;
export type KarpathySplit = (typeof KARPATHY_SPLITS)[number];

const Entry = z.looseObject({
  filename: z.string().min(1),
  filepath: z.string().optional(),
  split: z.string().min(1),
  imgid: z.number().optional(),
  cocoid: z.number().optional(),
  sentences: z.array(z.looseObject({ raw: z.string() })),
});

export interface KarpathyOptions extends SourceOptions {
  /** Root the `filepath/filename` of each entry resolves under. @default `images` beside the file, else its directory */
  imagesDir?: string;
  /** Which entries to yield; `train+restval` is the papers' training set. @default 'all' */
  split?: KarpathySplit;
}

/**
 * Karpathy's split files (`dataset_coco.json`, `dataset_flickr30k.json`, `dataset_flickr8k.json`),
 * on which every published COCO 5K / 1K and Flickr30k number is measured: `images[]` with `split`,
 * `filepath` (COCO: `train2014` / `val2014`), `filename` and `sentences[].raw`. Streamed entry by
 * entry. A bad entry becomes a failing item (reported, the rest goes on); `split` is kept in the
 * item's metadata so training and evaluation can select by it.
 */
export async function karpathySource(splitFile: string, options: KarpathyOptions = {}): Promise<Source> {
  const file = path.resolve(splitFile);
  if (!(await stat(file).catch(() => undefined))?.isFile())
    throw new AppError('SOURCE_INVALID', `Not found: ${file}`);
  const imagesDir = path.resolve(options.imagesDir ?? (await guessImagesDir(file)));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const wanted = options.split ?? 'all';
  const name = path.basename(file);
  const inSplit = (split: string) =>
    wanted === 'all' ||
    split === wanted ||
    (wanted === 'train+restval' && (split === 'train' || split === 'restval'));

  function toItem(element: ArrayElement): SourceItem | undefined {
    const parsed = 'error' in element ? undefined : Entry.safeParse(element.value);
    if (parsed === undefined || !parsed.success) {
      const why =
        'error' in element
          ? element.error
          : `entry ${element.index}: ${parsed?.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
      // Reported as a failing item, like a bad JSONL line: the run records it, the rest goes on.
      const reason = new AppError('SOURCE_INVALID', `${name} ${why}`);
      const key = `karpathy:entry:${element.index}`;
      return { key, uri: '', captions: [], metadata: {}, read: failingRead(reason) };
    }
    const entry = parsed.data;
    if (!inSplit(entry.split)) return undefined;
    const relative = entry.filepath ? `${entry.filepath}/${entry.filename}` : entry.filename;
    const key = `karpathy:${relative}`;
    const captions = entry.sentences.map((s) => s.raw.trim()).filter((c) => c.length > 0);
    const metadata: Record<string, unknown> = { split: entry.split, karpathyImage: relative };
    if (entry.cocoid !== undefined) metadata['cocoId'] = entry.cocoid;
    try {
      const full = resolveInside(imagesDir, relative);
      const read = () => readFileInside(imagesDir, full, maxBytes);
      return { key, uri: fileUri(full), captions, metadata, file: full, read };
    } catch (error) {
      return { key, uri: '', captions, metadata, read: failingRead(error as AppError) };
    }
  }

  return {
    format: 'karpathy',
    root: imagesDir,
    id: `karpathy:${wanted}:${file}`,
    async *items() {
      for await (const element of streamJsonArray(file, 'images')) {
        const item = toItem(element);
        if (item) yield item;
      }
    },
    async count() {
      let n = 0;
      for await (const element of streamJsonArray(file, 'images')) if (toItem(element)) n++;
      return n;
    },
  };
}

async function guessImagesDir(file: string): Promise<string> {
  const dir = path.join(path.dirname(file), 'images');
  return (await stat(dir).catch(() => undefined))?.isDirectory() ? dir : path.dirname(file);
}
