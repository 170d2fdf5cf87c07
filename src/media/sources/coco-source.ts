import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { DEFAULT_MAX_BYTES, failingRead, fileUri, readFileInside, resolveInside } from './safe-path.ts';
import type { Source, SourceItem, SourceOptions } from './types.ts';

const Coco = z.object({
  images: z.array(
    z.looseObject({
      id: z.number().int(),
      file_name: z.string().min(1),
      width: z.number().optional(),
      height: z.number().optional(),
    }),
  ),
  annotations: z.array(z.looseObject({ image_id: z.number().int(), caption: z.string() })),
});

export interface CocoOptions extends SourceOptions {
  /** Where `file_name`s live. @default `../<split>` for `annotations/captions_<split>.json`, else the JSON's directory */
  imagesDir?: string;
}

/**
 * COCO captions (`captions_train2017.json` + an image directory). The file is one JSON object, so
 * it is parsed whole and annotations are grouped by image id in a Map (about 120 MB for all of
 * train2017); items are then yielded lazily and images read on demand.
 */
export async function cocoSource(annotations: string, options: CocoOptions = {}): Promise<Source> {
  const file = path.resolve(annotations);
  let json: unknown;
  try {
    json = JSON.parse(stripBom(await readFile(file, 'utf8')));
  } catch (cause) {
    throw new AppError('SOURCE_INVALID', `Cannot read COCO captions ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const parsed = Coco.safeParse(json);
  if (!parsed.success) {
    throw new AppError(
      'SOURCE_INVALID',
      `${file} is not a COCO captions file: ${parsed.error.issues[0]?.message}`,
    );
  }
  const imagesDir = path.resolve(options.imagesDir ?? (await guessImagesDir(file)));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const { images, sameFile } = uniqueImages(parsed.data.images, path.basename(file), options.onWarning);
  const captionsById = new Map<number, string[]>();
  for (const a of parsed.data.annotations) {
    const text = a.caption.trim();
    if (text.length === 0) continue;
    // Captions of an id whose file another id already names go to that one gallery image.
    const id = sameFile.get(a.image_id) ?? a.image_id;
    const list = captionsById.get(id);
    if (list) list.push(text);
    else captionsById.set(id, [text]);
  }

  async function* items(): AsyncGenerator<SourceItem> {
    for (const image of images) {
      const captions = captionsById.get(image.id) ?? [];
      const metadata = { cocoId: image.id, fileName: image.file_name };
      const key = `coco:${image.id}`;
      let full: string;
      try {
        full = resolveInside(imagesDir, image.file_name);
      } catch (error) {
        yield { key, uri: '', captions, metadata, read: failingRead(error as AppError) };
        continue;
      }
      yield {
        key,
        uri: fileUri(full),
        captions,
        metadata,
        file: full,
        read: () => readFileInside(imagesDir, full, maxBytes),
      };
    }
  }

  return { format: 'coco', id: `coco:${file}`, root: imagesDir, items, count: async () => images.length };
}

async function guessImagesDir(file: string): Promise<string> {
  const split = /^captions_(.+)\.json$/.exec(path.basename(file))?.[1];
  const candidates = split
    ? [path.join(path.dirname(file), '..', split), path.join(path.dirname(file), split)]
    : [];
  // The documented fallback for a captions file kept beside its pictures.
  candidates.push(path.join(path.dirname(file), 'images'));
  for (const dir of candidates) {
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  return path.dirname(file);
}

/** Editors on Windows save UTF-8 JSON with a byte-order mark, which JSON.parse refuses. */
export function stripBom(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/**
 * Captions are joined to images by id, so a repeated id would hand one file's captions to the
 * other without a word: the first entry wins and each repeat is reported. Two ids naming one
 * file become one image (`sameFile` maps the later id to the first), so the file is not its own
 * negative in training and evaluation.
 */
function uniqueImages<T extends { id: number; file_name: string }>(
  images: T[],
  name: string,
  warn: ((message: string) => void) | undefined,
): { images: T[]; sameFile: Map<number, number> } {
  const seen = new Map<number, string>();
  const byFile = new Map<string, number>();
  const sameFile = new Map<number, number>();
  const kept: T[] = [];
  for (const image of images) {
    const first = seen.get(image.id);
    const fileId = byFile.get(image.file_name);
    if (first !== undefined) {
      warn?.(
        `${name}: image id ${image.id} is listed again for ${image.file_name}; its captions stay with ${first}`,
      );
    } else if (fileId !== undefined) {
      seen.set(image.id, image.file_name);
      sameFile.set(image.id, fileId);
      warn?.(
        `${name}: image ids ${fileId} and ${image.id} both name ${image.file_name}; merged into one image`,
      );
    } else {
      seen.set(image.id, image.file_name);
      byFile.set(image.file_name, image.id);
      kept.push(image);
    }
  }
  return { images: kept, sameFile };
}
