import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real photographs for the decoder and encoder tests: the wallpapers of Debian's
 * `mate-backgrounds` and `gnome-backgrounds` packages (JPEG, PNG, WebP, JPEG XL, large sizes).
 * Downloaded once with `apt-get download` and unpacked with `dpkg-deb -x` into a cache folder
 * under the project's data/ (git-ignored). Where apt is missing or offline the caller gets
 * `{ skipped: reason }` and should say so; nothing here throws.
 */

export const PHOTO_PACKAGES = ['mate-backgrounds', 'gnome-backgrounds'] as const;
export const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.jxl', '.avif', '.tif', '.tiff']);

const DEFAULT_CACHE = fileURLToPath(new URL('../../data/test-photos', import.meta.url));

export type PhotoSet = { dir: string; files: string[] } | { skipped: string };

export async function ensurePhotos(options: { cacheDir?: string } = {}): Promise<PhotoSet> {
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE;
  const root = path.join(cacheDir, 'root');
  if (existsSync(root)) {
    const files = await listPhotos(root);
    if (files.length > 0) return { dir: root, files };
  }
  for (const tool of ['apt-get', 'dpkg-deb']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0)
      return { skipped: `${tool} is not available on this machine` };
  }
  const work = path.join(cacheDir, `tmp-${process.pid}-${Date.now()}`);
  await mkdir(work, { recursive: true });
  try {
    let download = run('apt-get', ['download', ...PHOTO_PACKAGES], work, 300_000);
    if (download.status !== 0 && /locate|no candidate|not found/i.test(download.output)) {
      // A fresh machine has no package lists yet.
      run('apt-get', ['update', '-qq'], work, 300_000);
      download = run('apt-get', ['download', ...PHOTO_PACKAGES], work, 300_000);
    }
    if (download.status !== 0)
      return {
        skipped: `apt-get download ${PHOTO_PACKAGES.join(' ')} failed: ${download.output.trim().split('\n').slice(-2).join(' ')}`,
      };
    const extracted = path.join(work, 'root');
    for (const deb of (await readdir(work)).filter((f) => f.endsWith('.deb'))) {
      const x = run('dpkg-deb', ['-x', path.join(work, deb), extracted], work, 120_000);
      if (x.status !== 0) return { skipped: `dpkg-deb -x ${deb} failed: ${x.output.trim()}` };
    }
    try {
      await rename(extracted, root);
    } catch {
      // Another test worker unpacked it first; theirs is identical.
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const files = await listPhotos(root);
  return files.length > 0
    ? { dir: root, files }
    : { skipped: `no images found in ${PHOTO_PACKAGES.join(', ')}` };
}

async function listPhotos(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && PHOTO_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeout: number,
): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd, timeout, encoding: 'utf8' });
  return {
    status: r.error ? null : r.status,
    output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
  };
}
