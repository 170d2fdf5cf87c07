import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError, describeError } from '../../errors.ts';
import { groupRows } from './group-rows.ts';
import { readLines } from './lines.ts';
import {
  DEFAULT_MAX_BYTES,
  failingRead,
  fileUri,
  readFileInside,
  relativeKey,
  resolveInside,
} from './safe-path.ts';
import type { Source, SourceItem, SourceOptions } from './types.ts';

const Line = z.object({
  image: z.string().min(1),
  captions: z.array(z.string()).default([]),
  metadata: z.record(z.string(), z.unknown()).default({}),
});

export interface JsonlOptions extends SourceOptions {
  /** Image paths must resolve inside this directory. @default the manifest's directory */
  root?: string;
}

type Row = { key: string; item: SourceItem };

/**
 * A JSONL manifest: one `{"image": "...", "captions": [...], "metadata": {...}}` per line, image
 * paths relative to the manifest's directory. Streamed with readline. Lines naming the same image
 * become one item (captions in file order, the first line's metadata). A malformed line or a path
 * escaping the root becomes a failing item; blank lines are skipped.
 */
export async function jsonlSource(manifest: string, options: JsonlOptions = {}): Promise<Source> {
  const file = path.resolve(manifest);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new AppError('SOURCE_INVALID', `Manifest not found: ${file}`);
  const root = path.resolve(options.root ?? path.dirname(file));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;

  async function* rows(): AsyncGenerator<Row> {
    for await (const { line, number } of readLines(file)) {
      if (line.trim().length === 0) continue;
      yield parseLine(line, number);
    }
  }

  async function* items(): AsyncGenerator<SourceItem> {
    let merged = 0;
    for await (const group of groupRows(rows, (row) => row.key)) {
      if (group.length > 1) merged++;
      yield { ...group[0]!.item, captions: group.flatMap((row) => row.item.captions) };
    }
    // One line per (image, caption) is a common layout, so this is said once, not per image.
    if (merged > 0)
      options.onWarning?.(
        `${path.basename(file)}: ${merged} images named on several lines, each merged into one`,
      );
  }

  function parseLine(line: string, number: number): Row {
    let entry: z.infer<typeof Line>;
    try {
      const parsed = Line.safeParse(JSON.parse(line));
      if (!parsed.success)
        throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      entry = parsed.data;
    } catch (error) {
      const reason = new AppError(
        'SOURCE_INVALID',
        `${path.basename(file)} line ${number}: ${describeError(error)}`,
      );
      const key = `line:${number}`;
      return { key, item: { key, uri: '', captions: [], metadata: {}, read: failingRead(reason) } };
    }
    const captions = entry.captions.map((c) => c.trim()).filter((c) => c.length > 0);
    let image: string;
    try {
      image = resolveInside(root, entry.image);
    } catch (error) {
      // Keyed by line: two escaping lines must stay two reported failures.
      const item = {
        key: entry.image,
        uri: '',
        captions,
        metadata: entry.metadata,
        read: failingRead(error as AppError),
      };
      return { key: `line:${number}`, item };
    }
    const key = relativeKey(root, image);
    const item: SourceItem = {
      key,
      uri: fileUri(image),
      captions,
      metadata: entry.metadata,
      file: image,
      read: () => readFileInside(root, image, maxBytes),
    };
    return { key, item };
  }

  return {
    format: 'jsonl',
    root,
    id: `jsonl:${file}`,
    items,
    async count() {
      let n = 0;
      for await (const _ of groupRows(rows, (row) => row.key)) n++;
      return n;
    },
  };
}
