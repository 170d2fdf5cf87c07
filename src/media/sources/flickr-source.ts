import { stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { groupRows } from './group-rows.ts';
import { readLines } from './lines.ts';
import { DEFAULT_MAX_BYTES, failingRead, fileUri, readFileInside, resolveInside } from './safe-path.ts';
import type { Source, SourceItem, SourceOptions } from './types.ts';

export interface FlickrOptions extends SourceOptions {
  /** Where the jpgs live. @default `flickr30k_images`, `flickr30k-images` or `images` beside the file, else its directory */
  imagesDir?: string;
}

type Row = { image: string; caption: string };

/**
 * Flickr30k captions, streamed: `results.csv` (`image_name| comment_number| comment`, pipe
 * separated, with a header) or `results_20130124.token` (`name.jpg#N<TAB>caption`). The format is
 * chosen once per file, from its first line, so a caption holding `|` or a tab cannot switch it.
 * Captions of one image are grouped wherever they appear; malformed rows are reported and skipped.
 */
export async function flickrSource(captionsFile: string, options: FlickrOptions = {}): Promise<Source> {
  const file = path.resolve(captionsFile);
  if (!(await stat(file).catch(() => undefined))?.isFile())
    throw new AppError('SOURCE_INVALID', `Not found: ${file}`);
  const imagesDir = path.resolve(options.imagesDir ?? (await guessImagesDir(file)));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const token = await isTokenFile(file);
  const name = path.basename(file);

  function parse(line: string): Row | string {
    if (token) {
      const tab = line.indexOf('\t');
      if (tab < 0) return 'no tab between image#n and caption';
      const image = line.slice(0, tab).replace(/#\d+$/, '').trim();
      return image ? { image, caption: line.slice(tab + 1).trim() } : 'no image name';
    }
    const first = line.indexOf('|');
    const second = first < 0 ? -1 : line.indexOf('|', first + 1);
    if (second < 0) return 'expected "image_name| comment_number| comment"';
    // The caption itself may contain '|': everything after the second separator is caption.
    const image = line.slice(0, first).trim();
    return image ? { image, caption: line.slice(second + 1).trim() } : 'no image name';
  }

  async function* rows(warn: ((message: string) => void) | undefined): AsyncGenerator<Row> {
    for await (const { line, number } of readLines(file)) {
      if (line.trim().length === 0) continue;
      if (number === 1 && !token && /^image_name\s*\|/.test(line)) continue;
      const row = parse(line);
      if (typeof row === 'string') warn?.(`${name} line ${number} skipped: ${row}`);
      else yield row;
    }
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
        file: full,
        read: () => readFileInside(imagesDir, full, maxBytes),
      };
    } catch (error) {
      return { key, uri: '', captions, metadata, read: failingRead(error as AppError) };
    }
  }

  const groups = () =>
    groupRows(
      (counting) => rows(counting ? undefined : options.onWarning),
      (row) => row.image,
    );
  return {
    format: 'flickr30k',
    root: imagesDir,
    id: `flickr30k:${file}`,
    async *items() {
      for await (const g of groups()) {
        const captions = g.map((row) => row.caption).filter((c) => c.length > 0);
        yield item(g[0]!.image, captions);
      }
    },
    async count() {
      let n = 0;
      // Warnings belong to the pass that reads the items, not to the count (which runs beside it).
      for await (const _ of groupRows(
        () => rows(undefined),
        (row) => row.image,
      ))
        n++;
      return n;
    },
  };
}

/** `.token` files hold `name.jpg#N<TAB>caption`; anything else is read as the pipe-separated csv. */
async function isTokenFile(file: string): Promise<boolean> {
  if (file.endsWith('.token')) return true;
  for await (const { line } of readLines(file)) {
    if (line.trim().length === 0) continue;
    return /^[^|\t]+#\d+\t/.test(line);
  }
  return false;
}

async function guessImagesDir(file: string): Promise<string> {
  for (const name of ['flickr30k_images', 'flickr30k-images', 'images']) {
    const dir = path.join(path.dirname(file), name);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  return path.dirname(file);
}
