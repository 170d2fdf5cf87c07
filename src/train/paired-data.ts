import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError, describeError } from '../errors.ts';
import type { NamedAttributes, Scene } from './synthetic/scene.ts';

/**
 * Image-caption pairs for training and evaluation, read from a JSONL manifest (the indexer's
 * format), a COCO captions JSON, or a Flickr30k `results.csv` / `results_20130124.token`.
 */

export type Split = 'train' | 'val' | 'test';

export interface PairedItem {
  /** Absolute path of the image file. */
  imagePath: string;
  captions: string[];
  split: Split;
  /** Synthetic data only: what the image shows and what each caption names. */
  scene?: Scene;
  named?: NamedAttributes[];
}

export interface PairedData {
  format: 'manifest' | 'coco' | 'flickr';
  path: string;
  items: PairedItem[];
}

export interface PairedDataOptions {
  /** Folder holding the images of a COCO or Flickr file. @default the data file's folder (COCO: also `<folder>/images`) */
  imagesDir?: string;
}

export async function loadPairedData(dataPath: string, options: PairedDataOptions = {}): Promise<PairedData> {
  const file = path.resolve(dataPath);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new AppError('SOURCE_INVALID', `cannot read paired data ${file}: ${describeError(error)}`, {
      cause: error,
    });
  }
  const base = path.resolve(options.imagesDir ?? path.dirname(file));
  let data: PairedData;
  if (file.endsWith('.jsonl'))
    data = { format: 'manifest', path: file, items: parseManifest(text, path.dirname(file)) };
  else if (file.endsWith('.json')) data = { format: 'coco', path: file, items: parseCoco(text, base) };
  else if (/\.(csv|token|txt)$/.test(file))
    data = { format: 'flickr', path: file, items: parseFlickr(text, base) };
  else
    throw new AppError(
      'SOURCE_INVALID',
      `unknown paired data format for ${file}: expected .jsonl (manifest), .json (COCO) or .csv/.token (Flickr30k)`,
    );
  if (data.items.length === 0) throw new AppError('SOURCE_INVALID', `${file} holds no image with a caption`);
  return data;
}

function parseManifest(text: string, dir: string): PairedItem[] {
  const items: PairedItem[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: {
      image?: unknown;
      captions?: unknown;
      metadata?: { split?: unknown; attributes?: Record<string, unknown> };
    };
    try {
      row = JSON.parse(line) as typeof row;
    } catch (error) {
      throw new AppError('SOURCE_INVALID', `manifest line ${i + 1} is not JSON: ${describeError(error)}`, {
        cause: error,
      });
    }
    if (
      typeof row.image !== 'string' ||
      !Array.isArray(row.captions) ||
      !row.captions.every((c) => typeof c === 'string')
    ) {
      throw new AppError(
        'SOURCE_INVALID',
        `manifest line ${i + 1} needs "image" (string) and "captions" (array of strings)`,
      );
    }
    const captions = (row.captions as string[]).filter((c) => c.trim() !== '');
    if (captions.length === 0) return;
    const split = row.metadata?.split;
    const item: PairedItem = {
      imagePath: inside(dir, row.image, i + 1),
      captions,
      split: split === 'train' || split === 'val' || split === 'test' ? split : hashSplit(row.image),
    };
    const attributes = row.metadata?.attributes;
    if (
      attributes !== undefined &&
      Array.isArray(attributes['objects']) &&
      Array.isArray(attributes['captions'])
    ) {
      item.scene = {
        background: attributes['background'] as Scene['background'],
        objects: attributes['objects'] as Scene['objects'],
      };
      item.named = attributes['captions'] as NamedAttributes[];
      if (item.named.length !== captions.length) delete item.named;
    }
    items.push(item);
  });
  return items;
}

function parseCoco(text: string, base: string): PairedItem[] {
  let json: {
    images?: { id: number; file_name: string }[];
    annotations?: { image_id: number; caption: string }[];
  };
  try {
    json = JSON.parse(text) as typeof json;
  } catch (error) {
    throw new AppError('SOURCE_INVALID', `COCO captions file is not JSON: ${describeError(error)}`, {
      cause: error,
    });
  }
  if (!Array.isArray(json.images) || !Array.isArray(json.annotations)) {
    throw new AppError('SOURCE_INVALID', 'COCO captions file needs "images" and "annotations" arrays');
  }
  const captions = new Map<number, string[]>();
  for (const a of json.annotations) {
    if (typeof a.caption !== 'string') continue;
    const list = captions.get(a.image_id) ?? [];
    list.push(a.caption.trim());
    captions.set(a.image_id, list);
  }
  return json.images
    .filter((img) => captions.has(img.id))
    .map((img, i) => ({
      imagePath: inside(base, img.file_name, i + 1),
      captions: captions.get(img.id) ?? [],
      split: hashSplit(img.file_name),
    }));
}

/** `image_name| comment_number| comment` (results.csv) or `name.jpg#0<TAB>caption` (.token). */
function parseFlickr(text: string, base: string): PairedItem[] {
  const captions = new Map<string, string[]>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || (i === 0 && line.startsWith('image_name'))) return;
    let name: string | undefined;
    let caption: string | undefined;
    if (line.includes('|')) {
      const parts = line.split('|');
      name = parts[0]?.trim();
      caption = parts.slice(2).join('|').trim();
    } else if (line.includes('\t')) {
      const [key, rest] = line.split('\t');
      name = key?.split('#')[0]?.trim();
      caption = rest?.trim();
    }
    if (!name || !caption)
      throw new AppError(
        'SOURCE_INVALID',
        `Flickr30k line ${i + 1} is not "image| n| caption" or "image#n<TAB>caption"`,
      );
    const list = captions.get(name) ?? [];
    list.push(caption);
    captions.set(name, list);
  });
  return [...captions].map(([name, list], i) => ({
    imagePath: inside(base, name, i + 1),
    captions: list,
    split: hashSplit(name),
  }));
}

/** A relative image path resolved under its folder; anything escaping it is refused. */
function inside(dir: string, relative: string, line: number): string {
  const resolved = path.resolve(dir, relative);
  if (path.isAbsolute(relative) || !resolved.startsWith(dir + path.sep)) {
    throw new AppError('SOURCE_INVALID', `entry ${line}: image path "${relative}" leaves ${dir}`);
  }
  return resolved;
}

/** A stable 90/5/5 split for data sets that carry none, from a hash of the image name. */
function hashSplit(name: string): Split {
  const bucket = createHash('sha1').update(name).digest().readUInt16BE(0) % 100;
  return bucket < 5 ? 'test' : bucket < 10 ? 'val' : 'train';
}
