import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import { AppError, describeError } from '../errors.ts';
import {
  projectionFingerprint,
  readProjectionFiles,
  writeProjectionFiles,
  type ProjectionWeights,
  type WeightsHeader,
} from './projection-weights.ts';

/**
 * Versioned projection folders. `<dir>/versions/<fingerprint>/` holds one projection's
 * weights.json, weights.bin and card, written in a staging folder and renamed into place whole,
 * never changed after. `<dir>/active`, a small JSON file replaced atomically, names the one in
 * use. So a reader sees the old pair or the new pair, never one file of each (renaming
 * weights.bin and weights.json separately let 6 of 5,027 reads during retraining call a healthy
 * projection damaged), and retraining keeps the projection the live indexes were built with.
 * A folder with weights.json and no `active` (the layout before versions) still reads as it is.
 */

export const ACTIVE_FILE = 'active';
export const VERSIONS_DIR = 'versions';

interface ActivePointer {
  format: 'crossmodal-projection-active';
  version: 1;
  fingerprint: string;
  /** Its folder under versions/: the fingerprint, suffixed when that name holds other encoders' header. */
  folder?: string;
  /** The projection this one replaced, kept in versions/ as a backup. */
  previous?: string;
}

const folderOf = (p: ActivePointer) => p.folder ?? p.fingerprint;

async function readActive(dir: string): Promise<ActivePointer | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, ACTIVE_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const pointer = JSON.parse(text) as ActivePointer;
    if (pointer.format !== 'crossmodal-projection-active' || !/^[\w.-]+$/.test(folderOf(pointer)))
      throw new Error('not an active-projection pointer');
    return pointer;
  } catch (error) {
    throw new AppError(
      'MODEL_INVALID',
      `${path.join(dir, ACTIVE_FILE)} is damaged: ${describeError(error)}; delete it or run \`npm run train\``,
      { cause: error },
    );
  }
}

/** The folder holding the active projection's files: versions/<fingerprint>/, or `dir` itself (old layout). */
export async function activeProjectionDir(dir: string): Promise<string> {
  const pointer = await readActive(dir);
  return pointer === undefined ? dir : path.join(dir, VERSIONS_DIR, folderOf(pointer));
}

/** The active projection in `dir`; `undefined` when none is there, MODEL_INVALID when damaged. */
export async function readProjection(
  dir: string,
): Promise<{ weights: ProjectionWeights; header: WeightsHeader } | undefined> {
  const pointer = await readActive(dir);
  if (pointer === undefined) return readProjectionFiles(dir);
  const found = await readProjectionFiles(path.join(dir, VERSIONS_DIR, folderOf(pointer)));
  if (found === undefined)
    throw new AppError(
      'MODEL_INVALID',
      `${path.join(dir, ACTIVE_FILE)} names ${folderOf(pointer)}, which is missing from ${VERSIONS_DIR}/; run \`npm run train\``,
    );
  return found;
}

export interface CommitResult {
  header: WeightsHeader;
  /** The folder now holding the active files. */
  versionDir: string;
  /** The projection it replaced (kept under versions/), when there was another one. */
  previous?: WeightsHeader;
}

/**
 * Commits `w` as the active projection of `dir`: staging folder -> versions/<fingerprint>/ ->
 * `active`. `files` adds files (the card) to the version, given its header. A projection in the
 * old layout is first moved under versions/ so it stays as the backup.
 */
export async function writeProjection(
  dir: string,
  w: ProjectionWeights,
  encoders?: { text: string; image: string },
  options: { files?: (header: WeightsHeader) => Record<string, string> } = {},
): Promise<WeightsHeader> {
  return (await commitProjection(dir, w, encoders, options)).header;
}

export async function commitProjection(
  dir: string,
  w: ProjectionWeights,
  encoders?: { text: string; image: string },
  options: { files?: (header: WeightsHeader) => Record<string, string> } = {},
): Promise<CommitResult> {
  await mkdir(path.join(dir, VERSIONS_DIR), { recursive: true });
  const previous = await readProjection(dir).catch(() => undefined);
  if (previous !== undefined && (await readActive(dir)) === undefined)
    await adoptLegacy(dir, previous.header);
  const fingerprint = projectionFingerprint(w);
  const staging = path.join(dir, VERSIONS_DIR, `.staging-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const header = await writeProjectionFiles(staging, w, encoders);
    for (const [name, text] of Object.entries(options.files?.(header) ?? {}))
      await writeFile(path.join(staging, name), text);
    await syncTree(staging);
    // A version folder is never changed once committed. The same weights with the same header
    // reuse it; the same weights fitted to other encoders (an untrained start) get their own.
    const headerText = await readFile(path.join(staging, 'weights.json'), 'utf8');
    let folder = fingerprint;
    const there = await readFile(path.join(dir, VERSIONS_DIR, folder, 'weights.json'), 'utf8').catch(
      () => undefined,
    );
    if (there !== undefined && there !== headerText)
      folder = `${fingerprint}-${createHash('sha256').update(headerText).digest('hex').slice(0, 8)}`;
    const versionDir = path.join(dir, VERSIONS_DIR, folder);
    if (await exists(versionDir)) await rm(staging, { recursive: true, force: true });
    else await rename(staging, versionDir);
    await syncPath(path.join(dir, VERSIONS_DIR));
    const pointer: ActivePointer = {
      format: 'crossmodal-projection-active',
      version: 1,
      fingerprint,
      ...(folder !== fingerprint ? { folder } : {}),
      ...(previous && previous.header.fingerprint !== fingerprint
        ? { previous: previous.header.fingerprint }
        : {}),
    };
    await writeFileAtomic(path.join(dir, ACTIVE_FILE), `${JSON.stringify(pointer, null, 2)}\n`);
    return {
      header,
      versionDir,
      ...(previous && previous.header.fingerprint !== fingerprint ? { previous: previous.header } : {}),
    };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Copies an old-layout projection (files directly in `dir`) into versions/<fingerprint>/ and
 * points `active` at it, so the next commit replaces it like any version and keeps it as backup.
 * The old files stay until then; readers follow `active` from this point on.
 */
async function adoptLegacy(dir: string, header: WeightsHeader): Promise<void> {
  const versionDir = path.join(dir, VERSIONS_DIR, header.fingerprint);
  if (!(await exists(versionDir))) {
    const staging = `${versionDir}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    await mkdir(staging, { recursive: true });
    for (const name of ['weights.json', 'weights.bin', 'card.json']) {
      const bytes = await readFile(path.join(dir, name)).catch(() => undefined);
      if (bytes !== undefined) await writeFile(path.join(staging, name), bytes);
    }
    await syncTree(staging);
    await rename(staging, versionDir);
  }
  const pointer: ActivePointer = {
    format: 'crossmodal-projection-active',
    version: 1,
    fingerprint: header.fingerprint,
  };
  await writeFileAtomic(path.join(dir, ACTIVE_FILE), `${JSON.stringify(pointer, null, 2)}\n`);
  for (const name of ['weights.json', 'weights.bin', 'card.json'])
    await rm(path.join(dir, name), { force: true });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** fsync of each file in a fresh folder and of the folder, so a crash never commits a short file. */
async function syncTree(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await syncPath(path.join(dir, name));
  await syncPath(dir);
}

async function syncPath(p: string): Promise<void> {
  const handle = await open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
