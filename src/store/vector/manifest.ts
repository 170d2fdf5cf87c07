import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { writeFileAtomic } from '../../atomic-file.ts';

export const MANIFEST_FILE = 'manifest.json';

const Snapshot = z.object({
  file: z.string().regex(/^[\w.-]+$/),
  implementation: z.enum(['hnsw', 'exact']),
  dims: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  deleted: z.array(z.number().int().nonnegative()),
  bytes: z.number().int().nonnegative(),
  /** Checked on load; optional so manifests written before checksums still load. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** Highest Postgres id the file includes: reconcile scans from here. */
  maxId: z.number().int().nonnegative(),
});

const Manifest = z.object({
  version: z.literal(1),
  fingerprint: z.string().min(1),
  dims: z.number().int().positive(),
  params: z.object({ m: z.number(), efConstruction: z.number(), ef: z.number() }),
  /** Bumped by every checkpoint; index files carry it in their names, so a checkpoint never overwrites the files the current manifest names. */
  generation: z.number().int().nonnegative(),
  savedAt: z.string(),
  indexes: z.object({ image: Snapshot, caption: Snapshot }),
});

export type IndexManifest = z.infer<typeof Manifest>;
export type ManifestSnapshot = z.infer<typeof Snapshot>;

/** The manifest in `dir`, or undefined when none was ever written there. */
export async function readManifest(dir: string): Promise<IndexManifest | undefined> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('INDEX_CORRUPT', `Cannot read ${file}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AppError('INDEX_CORRUPT', `${file} is not valid JSON; run \`npm run reindex\` to rebuild it`, {
      cause,
    });
  }
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) {
    throw new AppError(
      'INDEX_CORRUPT',
      `${file} is not a valid index manifest (${parsed.error.issues[0]?.message}); run \`npm run reindex\``,
    );
  }
  return parsed.data;
}

/** Written last in a checkpoint: the rename of this file is the commit point. */
export async function writeManifest(dir: string, manifest: IndexManifest): Promise<void> {
  await writeFileAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** A fingerprint as a directory name: readable where it can be, never a path separator or `..`. */
export function fingerprintDir(fingerprint: string): string {
  const safe = fingerprint.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '_');
  return safe.length > 0 && safe.length <= 120
    ? safe
    : `fp_${createHash('sha256').update(fingerprint).digest('hex').slice(0, 32)}`;
}
