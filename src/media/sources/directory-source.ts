import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { DEFAULT_MAX_BYTES, describeFileType, fileUri, readFileInside, relativeKey } from './safe-path.ts';
import type { Source, SourceItem, SourceOptions } from './types.ts';

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.avif',
  '.tif',
  '.tiff',
]);

/**
 * Every image under `root`, recursively, in sorted order. Captions come from an optional sidecar
 * next to the image (`photo.txt` or `photo.jpg.txt`), one caption per non-empty line. Symlinked
 * directories are not followed (no loops, no escaping the root).
 */
export async function directorySource(root: string, options: SourceOptions = {}): Promise<Source> {
  const absolute = path.resolve(root);
  const info = await stat(absolute).catch(() => undefined);
  if (!info?.isDirectory()) throw new AppError('SOURCE_INVALID', `Not a directory: ${absolute}`);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;

  /** `warn`: report what is skipped (once, from `items()`; `count()` walks silently). */
  async function* walk(
    dir: string,
    warn?: (message: string) => void,
  ): AsyncGenerator<{ file: string; siblings: ReadonlySet<string> }> {
    // One directory's names at a time: memory follows the widest directory, not the whole tree.
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    const siblings = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) yield* walk(full, warn);
      else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) {
        // A FIFO, socket or device named like an image (directly or through a symlink) is no
        // image: reading a FIFO would block until something writes to it.
        const other = await notRegular(full, entry.isFile(), entry.isSymbolicLink());
        if (other === undefined) yield { file: full, siblings };
        else warn?.(`skipped ${relativeKey(absolute, full)}: ${other}, not a regular file`);
      }
    }
  }

  async function* items(): AsyncGenerator<SourceItem> {
    for await (const { file, siblings } of walk(absolute, options.onWarning)) {
      const key = relativeKey(absolute, file);
      yield {
        key,
        uri: fileUri(file),
        captions: await readSidecar(file, siblings),
        metadata: { path: key },
        file,
        read: () => readFileInside(absolute, file, maxBytes),
      };
    }
  }

  return {
    format: 'dir',
    root: absolute,
    id: `dir:${absolute}`,
    items,
    async count() {
      let n = 0;
      for await (const _ of walk(absolute)) n++;
      return n;
    },
  };
}

/**
 * Why an image-named entry is not a file to read (`a FIFO`, ...), or undefined when it is one. A
 * broken symlink counts as a file: reading it fails with NOT_FOUND, recorded against the item.
 */
async function notRegular(file: string, isFile: boolean, isLink: boolean): Promise<string | undefined> {
  if (isFile) return undefined;
  if (isLink) {
    const target = await stat(file).catch(() => undefined);
    return target === undefined || target.isFile() ? undefined : describeFileType(target);
  }
  return describeFileType(await lstat(file));
}

async function readSidecar(file: string, siblings: ReadonlySet<string>): Promise<string[]> {
  const base = path.basename(file);
  const stem = base.slice(0, base.length - path.extname(base).length);
  const name = [`${base}.txt`, `${stem}.txt`].find((n) => siblings.has(n));
  if (name === undefined) return [];
  const text = await readFile(path.join(path.dirname(file), name), 'utf8');
  return splitCaptions(text);
}

export function splitCaptions(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}
