import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError, describeError } from '../../errors.ts';
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

/**
 * A JSONL manifest: one `{"image": "...", "captions": [...], "metadata": {...}}` per line, image
 * paths relative to the manifest's directory. Streamed with readline. A malformed line or a path
 * escaping the root becomes a failing item; blank lines are skipped.
 */
export async function jsonlSource(manifest: string, options: JsonlOptions = {}): Promise<Source> {
  const file = path.resolve(manifest);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new AppError('SOURCE_INVALID', `Manifest not found: ${file}`);
  const root = path.resolve(options.root ?? path.dirname(file));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;

  async function* items(): AsyncGenerator<SourceItem> {
    for await (const { line, number } of readLines(file)) {
      if (line.trim().length === 0) continue;
      yield parseLine(line, number);
    }
  }

  function parseLine(line: string, number: number): SourceItem {
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
      return { key: `line:${number}`, uri: '', captions: [], metadata: {}, read: failingRead(reason) };
    }
    const captions = entry.captions.map((c) => c.trim()).filter((c) => c.length > 0);
    let image: string;
    try {
      image = resolveInside(root, entry.image);
    } catch (error) {
      return {
        key: entry.image,
        uri: '',
        captions,
        metadata: entry.metadata,
        read: failingRead(error as AppError),
      };
    }
    return {
      key: relativeKey(root, image),
      uri: fileUri(image),
      captions,
      metadata: entry.metadata,
      read: () => readFileInside(root, image, maxBytes),
    };
  }

  return {
    format: 'jsonl',
    id: `jsonl:${file}`,
    items,
    async count() {
      let n = 0;
      for await (const { line } of readLines(file)) if (line.trim().length > 0) n++;
      return n;
    },
  };
}
