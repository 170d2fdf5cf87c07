import { stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { readLines } from './lines.ts';
import { DEFAULT_MAX_BYTES, failingRead, fileUri, readFileInside, resolveInside } from './safe-path.ts';
import type { Source, SourceItem, SourceOptions } from './types.ts';

export interface FlickrOptions extends SourceOptions {
  /** Where the jpgs live. @default `flickr30k_images` or `flickr30k-images` beside the file, else its directory */
  imagesDir?: string;
}

/**
 * Flickr30k captions, streamed: `results.csv` (`image_name| comment_number| comment`, pipe
 * separated, with a header) or `results_20130124.token` (`name.jpg#N<TAB>caption`). Captions of one
 * image are consecutive in both files, so an item is emitted when the image name changes.
 */
export async function flickrSource(captionsFile: string, options: FlickrOptions = {}): Promise<Source> {
  const file = path.resolve(captionsFile);
  if (!(await stat(file).catch(() => undefined))?.isFile())
    throw new AppError('SOURCE_INVALID', `Not found: ${file}`);
  const imagesDir = path.resolve(options.imagesDir ?? (await guessImagesDir(file)));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const token = file.endsWith('.token');

  function parse(line: string, number: number): { image: string; caption: string } | undefined {
    if (token) {
      const tab = line.indexOf('\t');
      if (tab < 0) return undefined;
      return { image: line.slice(0, tab).replace(/#\d+$/, '').trim(), caption: line.slice(tab + 1).trim() };
    }
    if (number === 1 && /^image_name\s*\|/.test(line)) return undefined;
    const parts = line.split('|');
    if (parts.length < 3) return undefined;
    // The caption itself may contain '|': everything after the second separator is caption.
    return { image: parts[0]!.trim(), caption: parts.slice(2).join('|').trim() };
  }

  function item(image: string, captions: string[]): SourceItem {
    const key = `flickr30k:${image}`;
    const metadata = { flickrImage: image };
    try {
      const full = resolveInside(imagesDir, image);
      return {
        key,
        uri: fileUri(full),
        captions,
        metadata,
        read: () => readFileInside(imagesDir, full, maxBytes),
      };
    } catch (error) {
      return { key, uri: '', captions, metadata, read: failingRead(error as AppError) };
    }
  }

  async function* groups(): AsyncGenerator<{ image: string; captions: string[] }> {
    let current: { image: string; captions: string[] } | undefined;
    for await (const { line, number } of readLines(file)) {
      const row = parse(line, number);
      if (row === undefined || row.image.length === 0) continue;
      if (current && current.image !== row.image) {
        yield current;
        current = undefined;
      }
      current ??= { image: row.image, captions: [] };
      if (row.caption.length > 0) current.captions.push(row.caption);
    }
    if (current) yield current;
  }

  return {
    format: 'flickr30k',
    id: `flickr30k:${file}`,
    async *items() {
      for await (const g of groups()) yield item(g.image, g.captions);
    },
    async count() {
      let n = 0;
      for await (const _ of groups()) n++;
      return n;
    },
  };
}

async function guessImagesDir(file: string): Promise<string> {
  for (const name of ['flickr30k_images', 'flickr30k-images', 'images']) {
    const dir = path.join(path.dirname(file), name);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  return path.dirname(file);
}
