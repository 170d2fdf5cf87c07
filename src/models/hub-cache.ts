import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';

/**
 * The Hugging Face hub cache, in the layout huggingface_hub writes (file_download.py,
 * `_hf_hub_download_to_cache_dir`), so files are shared both ways with Python and other HF tools:
 *
 *   <cacheDir>/models--<org>--<name>/
 *     blobs/<etag>                     the bytes; etag = sha256 for LFS files, git blob sha1 otherwise
 *     refs/<branch-or-tag>             the commit hash that revision resolved to
 *     snapshots/<commit>/<path>        relative symlink to ../../blobs/<etag> (nested paths: more ../)
 *
 * A partial download lives beside its blob as `<etag>.incomplete` and is kept for the next run.
 */
export class HubCache {
  constructor(readonly cacheDir: string) {}

  /** `models--org--name`: huggingface_hub's `repo_folder_name` for a model repo. */
  repoDir(repo: string): string {
    return path.join(this.cacheDir, ['models', ...repo.split('/')].join('--'));
  }

  blobPath(repo: string, etag: string): string {
    return path.join(this.repoDir(repo), 'blobs', etag);
  }

  incompletePath(repo: string, etag: string): string {
    return `${this.blobPath(repo, etag)}.incomplete`;
  }

  snapshotPath(repo: string, commit: string, file: string): string {
    const snapshots = path.join(this.repoDir(repo), 'snapshots');
    const pointer = path.join(snapshots, commit, ...file.split('/'));
    // A file name from a profile must never escape the snapshot folder (`../` in a path).
    if (!pointer.startsWith(snapshots + path.sep) || commit.includes('/') || commit.includes('\\'))
      throw new AppError('INVALID_INPUT', `unsafe hub path: revision ${commit}, file ${file}`);
    return pointer;
  }

  /** The commit a revision stands for without asking the hub: itself if it is one, else `refs/<revision>`. */
  async commitOf(repo: string, revision: string): Promise<string | undefined> {
    if (isCommitHash(revision)) return revision;
    try {
      const commit = (await readFile(path.join(this.repoDir(repo), 'refs', revision), 'utf8')).trim();
      return isCommitHash(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** The cached file for (repo, revision, path), or undefined; reads only the disk. */
  async lookup(repo: string, revision: string, file: string): Promise<string | undefined> {
    const commit = await this.commitOf(repo, revision);
    if (commit === undefined) return undefined;
    const pointer = this.snapshotPath(repo, commit, file);
    // existsSync follows the symlink: a pointer whose blob was deleted counts as missing.
    return existsSync(pointer) ? pointer : undefined;
  }

  /** Records that `revision` resolved to `commit`, atomically so a concurrent reader never sees half a hash. */
  async writeRef(repo: string, revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const ref = path.join(this.repoDir(repo), 'refs', revision);
    await mkdir(path.dirname(ref), { recursive: true });
    const tmp = `${ref}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, commit);
    await rename(tmp, ref);
  }

  /**
   * Points `snapshots/<commit>/<file>` at the blob with a relative symlink (so the cache folder can
   * be moved), as huggingface_hub does; where symlinks are refused, a copy, as huggingface_hub does.
   */
  async linkSnapshot(repo: string, commit: string, file: string, etag: string): Promise<string> {
    const pointer = this.snapshotPath(repo, commit, file);
    const blob = this.blobPath(repo, etag);
    await mkdir(path.dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    try {
      await symlink(path.relative(path.dirname(pointer), blob), pointer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      await copyFile(blob, pointer);
    }
    return pointer;
  }
}

export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/**
 * Puts a cached file at `target`: a hard link when both are on one file system (no second copy on
 * disk, and it survives a cleaned hub cache), else a copy. `copy` forces a real copy, for files that
 * are carried to another machine. Writes through a temporary name so `target` is never half there.
 */
export async function placeFile(
  source: string,
  target: string,
  options: { copy?: boolean } = {},
): Promise<void> {
  // link(2) does not follow symlinks: link the blob a snapshot pointer names, not the pointer.
  const real = await realpath(source);
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  try {
    if (options.copy === true) await copyFile(real, tmp);
    else {
      try {
        await link(real, tmp);
      } catch {
        await copyFile(real, tmp);
      }
    }
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}
