/**
 * Thumbnails by image id: rendered once with sharp from the stored original and cached on disk
 * under DATA_DIR/cache/thumbs, keyed by content hash (an image's bytes never change under its hash).
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic-file.ts';
import { AppError } from '../errors.ts';
import type { ImageRecord } from '../store/images.repository.ts';

export const THUMBNAIL_SIZE = 256;

/** Where the original bytes of an image live on this machine, if anywhere. */
export function localSource(uri: string): string | undefined {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  if (path.isAbsolute(uri)) return uri;
  return undefined;
}

export async function thumbnail(
  image: ImageRecord,
  options: { cacheDir: string; maxPixels: number },
): Promise<Buffer> {
  const file = path.join(options.cacheDir, 'thumbs', `${image.sha256}-${THUMBNAIL_SIZE}.webp`);
  const cached = await readFile(file).catch(() => undefined);
  if (cached) return cached;
  const source = localSource(image.uri);
  if (!source) throw new AppError('NOT_FOUND', `Image ${image.id} has no local original to render`);
  // A missing original is NOT_FOUND; one that is there but does not decode is INVALID_IMAGE.
  if (
    !(await stat(source).then(
      (st) => st.isFile(),
      () => false,
    ))
  ) {
    throw new AppError('NOT_FOUND', `The original of image ${image.id} is no longer on this server`);
  }
  let body: Buffer;
  try {
    body = await sharp(source, { limitInputPixels: options.maxPixels, failOn: 'truncated' })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
  } catch (cause) {
    throw new AppError('INVALID_IMAGE', `The original of image ${image.id} cannot be decoded`, { cause });
  }
  await mkdir(path.dirname(file), { recursive: true });
  // Concurrent first requests for one image each render and commit; the temp name is unique per
  // call (a pid + Date.now() name collided within one millisecond), and every rename is whole.
  await writeFileAtomic(file, body);
  return body;
}
