import { createHash } from 'node:crypto';
import path from 'node:path';
import { AppError, describeError } from '../errors.ts';
import {
  openSource,
  type KarpathySplit,
  type SourceFormat,
  type SourceItem,
} from '../media/sources/index.ts';
import type { NamedAttributes, Scene } from './synthetic/scene.ts';

/**
 * Image-caption pairs for training and evaluation, read by the indexer's own source readers
 * (src/media/sources): a JSONL manifest, COCO captions JSON, Flickr30k `results.csv` /
 * `results_20130124.token`, or a Karpathy split file. One reader per format means the trainer
 * groups, skips and finds images exactly as `npm run index` does.
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
  format: 'manifest' | 'coco' | 'flickr' | 'karpathy';
  path: string;
  items: PairedItem[];
}

export interface PairedDataOptions {
  /** Folder holding the images of a COCO, Flickr30k or Karpathy file. @default guessed as the indexer does */
  imagesDir?: string;
  /** Karpathy files only: which entries to read; `restval` counts as training data. @default 'all' */
  karpathySplit?: KarpathySplit;
  /** Hears what was skipped or merged (malformed rows, missing paths, images without captions). @default nothing */
  onWarning?: (message: string) => void;
}

const FORMATS: Record<Exclude<SourceFormat, 'dir'>, PairedData['format']> = {
  jsonl: 'manifest',
  coco: 'coco',
  flickr30k: 'flickr',
  karpathy: 'karpathy',
};

export async function loadPairedData(dataPath: string, options: PairedDataOptions = {}): Promise<PairedData> {
  const warn = options.onWarning ?? (() => {});
  const source = await openSource(dataPath, {
    onWarning: warn,
    ...(options.imagesDir ? { imagesDir: options.imagesDir } : {}),
    ...(options.karpathySplit ? { split: options.karpathySplit } : {}),
  });
  if (source.format === 'dir') {
    throw new AppError(
      'SOURCE_INVALID',
      `${dataPath} is a folder; training needs captions: a .jsonl manifest, COCO .json, Flickr30k .csv/.token or Karpathy dataset_*.json`,
    );
  }
  const items: PairedItem[] = [];
  let uncaptioned = 0;
  for await (const item of source.items()) {
    if (item.file === undefined) {
      warn(`skipped ${item.key}: ${await failure(item)}`);
    } else if (item.captions.length === 0) {
      uncaptioned++;
    } else {
      items.push(toPaired(item, item.file));
    }
  }
  // Pairs are what training and Recall@K need; say how many images had none rather than hide them.
  if (uncaptioned > 0) warn(`${uncaptioned} images without captions are left out of training and evaluation`);
  if (items.length === 0) throw new AppError('SOURCE_INVALID', `${dataPath} holds no image with a caption`);
  return { format: FORMATS[source.format], path: path.resolve(dataPath), items };
}

function toPaired(item: SourceItem, imagePath: string): PairedItem {
  const split = item.metadata['split'];
  const paired: PairedItem = {
    imagePath,
    captions: item.captions,
    // Karpathy's `restval` is the extra training data every paper trains on.
    split:
      split === 'train' || split === 'val' || split === 'test'
        ? split
        : split === 'restval'
          ? 'train'
          : hashSplit(item.key),
  };
  const attributes = item.metadata['attributes'] as Record<string, unknown> | undefined;
  if (attributes && Array.isArray(attributes['objects']) && Array.isArray(attributes['captions'])) {
    paired.scene = {
      background: attributes['background'] as Scene['background'],
      objects: attributes['objects'] as Scene['objects'],
    };
    const named = attributes['captions'] as NamedAttributes[];
    if (named.length === item.captions.length) paired.named = named;
  }
  return paired;
}

/** Why a source could not place an item: its read() rejects with the reason it found while listing. */
async function failure(item: SourceItem): Promise<string> {
  try {
    await item.read();
    return 'no local file';
  } catch (error) {
    return describeError(error);
  }
}

/** A stable 90/5/5 split for data sets that carry none, from a hash of the item's key. */
function hashSplit(key: string): Split {
  const bucket = createHash('sha1').update(key).digest().readUInt16BE(0) % 100;
  return bucket < 5 ? 'test' : bucket < 10 ? 'val' : 'train';
}
