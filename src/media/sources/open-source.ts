import { stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { cocoSource } from './coco-source.ts';
import { directorySource } from './directory-source.ts';
import { flickrSource } from './flickr-source.ts';
import { jsonlSource } from './jsonl-source.ts';
import type { Source, SourceFormat, SourceOptions } from './types.ts';

export interface OpenSourceOptions extends SourceOptions {
  /** @default guessed from the path: a directory, `*.jsonl`, `captions_*.json`, `results.csv` / `*.token` */
  format?: SourceFormat;
  /** Image directory for COCO and Flickr30k. */
  imagesDir?: string;
}

/** Picks the reader for a path the operator gave. */
export async function openSource(location: string, options: OpenSourceOptions = {}): Promise<Source> {
  const full = path.resolve(location);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new AppError('SOURCE_INVALID', `Source not found: ${full}`);
  const format = options.format ?? guessFormat(full, info.isDirectory());
  const common = options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes };
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
  }
}

function guessFormat(file: string, isDirectory: boolean): SourceFormat {
  if (isDirectory) return 'dir';
  const name = path.basename(file).toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.json')) return 'coco';
  if (name.endsWith('.token') || name.endsWith('.csv')) return 'flickr30k';
  throw new AppError(
    'SOURCE_INVALID',
    `Cannot tell the format of ${file}: expected a directory, *.jsonl, COCO captions_*.json or Flickr30k results.csv / *.token`,
  );
}
