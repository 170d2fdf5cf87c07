import { stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { cocoSource } from './coco-source.ts';
import { directorySource } from './directory-source.ts';
import { flickrSource } from './flickr-source.ts';
import { jsonlSource } from './jsonl-source.ts';
import { karpathySource, type KarpathySplit } from './karpathy-source.ts';
import type { Source, SourceFormat, SourceOptions } from './types.ts';

export interface OpenSourceOptions extends SourceOptions {
  /** @default guessed from the path: a directory, `*.jsonl`, `dataset_*.json` (Karpathy), other `*.json` (COCO), `*.csv` / `*.token` / `*.txt` (Flickr) */
  format?: SourceFormat;
  /** Image directory (root) for COCO, Flickr30k and Karpathy split files. */
  imagesDir?: string;
  /** Karpathy split files only: which split to read. @default 'all' */
  split?: KarpathySplit;
}

/** Picks the reader for a path the operator gave. */
export async function openSource(location: string, options: OpenSourceOptions = {}): Promise<Source> {
  const full = path.resolve(location);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new AppError('SOURCE_INVALID', `Source not found: ${full}`);
  const format = options.format ?? guessFormat(full, info.isDirectory());
  const common = {
    ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
  };
  const images = options.imagesDir === undefined ? {} : { imagesDir: options.imagesDir };
  switch (format) {
    case 'dir':
      return directorySource(full, common);
    case 'jsonl':
      return jsonlSource(full, common);
    case 'coco':
      return cocoSource(full, { ...common, ...images });
    case 'flickr30k':
      return flickrSource(full, { ...common, ...images });
    case 'karpathy':
      return karpathySource(full, {
        ...common,
        ...images,
        ...(options.split ? { split: options.split } : {}),
      });
  }
}

function guessFormat(file: string, isDirectory: boolean): SourceFormat {
  if (isDirectory) return 'dir';
  const name = path.basename(file).toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (/^dataset_.*\.json$/.test(name)) return 'karpathy';
  if (name.endsWith('.json')) return 'coco';
  // Flickr8k ships its captions as Flickr8k.token.txt; the reader tells token from csv by content.
  if (name.endsWith('.token') || name.endsWith('.csv') || name.endsWith('.txt')) return 'flickr30k';
  throw new AppError(
    'SOURCE_INVALID',
    `Cannot tell the format of ${file}: expected a directory, *.jsonl, COCO captions_*.json, Karpathy dataset_*.json or Flickr30k results.csv / *.token`,
  );
}
