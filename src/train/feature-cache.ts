import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Encoders, PixelTensor } from '../models/types.ts';
import type { PairedData, PairedItem } from './paired-data.ts';

/**
 * Frozen-encoder features of a paired data set, computed once and kept on disk under
 * `<cacheDir>/features/<key>/`. The key hashes both encoder fingerprints, the decode limits and
 * the data set (image paths, image bytes, captions), so new encoders, other limits or changed
 * data miss the cache. A run in which any image failed to decode is not cached at all: a
 * failure may be passing (a limit, a file being copied) and must be retried, never served.
 */

export interface PairedFeatures {
  /** [captions, textDims]: every caption of every kept item, in item order. */
  text: Float32Array;
  /** [items, imageDims] */
  image: Float32Array;
  textDims: number;
  imageDims: number;
  /** For each caption row, the row of its image. */
  captionImage: Int32Array;
  /** The items whose image decoded (a bad image drops its item, it does not abort the run). */
  items: PairedItem[];
  /** Index in `data.items` of each kept item. */
  kept: number[];
  key: string;
  fromCache: boolean;
}

export interface FeatureCacheOptions {
  cacheDir: string;
  /** Turns file bytes into encoder input; the trainer passes `decodeImage` with the encoder's spec. */
  decode: (bytes: Buffer) => Promise<PixelTensor>;
  /**
   * The limits `decode` enforces, part of the key: an image refused under MAX_IMAGE_PIXELS=1024
   * decodes under the default, so the two settings must not share a cache entry.
   */
  limits: { maxBytes: number; maxPixels: number };
  /** @default 64 */
  batchSize?: number;
  logger: Logger;
  onProgress?: (done: number, total: number) => void;
}

interface CacheMeta {
  key: string;
  encoders: { text: string; image: string };
  textDims: number;
  imageDims: number;
  kept: number[];
  captions: number;
}

/**
 * Hashes every image's bytes rather than trusting size and mtime: a same-size edit with the mtime
 * restored (a re-export, a sync tool, `touch -r`) served stale features. Reading the images is far
 * cheaper than decoding and encoding them, which a hit saves.
 */
export async function cacheKey(
  data: PairedData,
  encoders: Encoders,
  limits: FeatureCacheOptions['limits'],
): Promise<string> {
  const hash = createHash('sha256').update(
    JSON.stringify({
      v: 2,
      text: encoders.text.fingerprint,
      image: encoders.image.fingerprint,
      limits: [limits.maxBytes, limits.maxPixels],
    }),
  );
  const digests = await mapLimited(data.items, 8, async (item) => {
    const bytes = await readFile(item.imagePath).catch(() => undefined);
    return bytes === undefined ? 'missing' : createHash('sha256').update(bytes).digest('hex');
  });
  data.items.forEach((item, i) => hash.update(JSON.stringify([item.imagePath, digests[i], item.captions])));
  return hash.digest('hex').slice(0, 24);
}

/** `fn` over `items` with at most `limit` in flight, results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function cachedFeatures(
  data: PairedData,
  encoders: Encoders,
  options: FeatureCacheOptions,
): Promise<PairedFeatures> {
  const key = await cacheKey(data, encoders, options.limits);
  const dir = path.join(options.cacheDir, 'features', key);
  const cached = await readCache(dir, data, key).catch((error: unknown) => {
    options.logger.warn({ dir, error: describeError(error) }, 'feature cache unreadable; encoding again');
    return undefined;
  });
  if (cached !== undefined) {
    options.logger.info({ key, items: cached.items.length }, 'feature cache hit');
    return cached;
  }
  const features = await encodeAll(data, encoders, key, options);
  if (features.kept.length === data.items.length) await writeCache(dir, features, encoders);
  else
    options.logger.warn(
      { dropped: data.items.length - features.kept.length },
      'features not cached: some images did not decode, and the next run tries them again',
    );
  return features;
}

async function encodeAll(
  data: PairedData,
  encoders: Encoders,
  key: string,
  options: FeatureCacheOptions,
): Promise<PairedFeatures> {
  const batchSize = options.batchSize ?? 64;
  const imageDims = encoders.image.dims;
  const chunks: Float32Array[] = [];
  const kept: number[] = [];
  let failed = 0;
  for (let start = 0; start < data.items.length; start += batchSize) {
    const batch = data.items.slice(start, start + batchSize);
    const decoded = await Promise.all(
      batch.map(async (item) => {
        try {
          return await options.decode(await readFile(item.imagePath));
        } catch (error) {
          failed++;
          options.logger.warn(
            { image: item.imagePath, error: describeError(error) },
            'skipping an image that did not decode',
          );
          return undefined;
        }
      }),
    );
    const pixels: PixelTensor[] = [];
    decoded.forEach((p, i) => {
      if (p === undefined) return;
      pixels.push(p);
      kept.push(start + i);
    });
    if (pixels.length > 0) chunks.push(await encoders.image.encode(pixels));
    options.onProgress?.(Math.min(start + batchSize, data.items.length), data.items.length);
  }
  if (failed > 0) options.logger.warn({ failed, kept: kept.length }, 'some images were skipped');
  const image = concat(chunks, kept.length * imageDims);
  const items = kept.map((i) => data.items[i] as PairedItem);
  const { text, captionImage } = await encodeCaptions(items, encoders);
  return {
    text,
    image,
    textDims: encoders.text.dims,
    imageDims,
    captionImage,
    items,
    kept,
    key,
    fromCache: false,
  };
}

async function encodeCaptions(
  items: PairedItem[],
  encoders: Encoders,
): Promise<{ text: Float32Array; captionImage: Int32Array }> {
  const captions = items.flatMap((item) => item.captions);
  const captionImage = Int32Array.from(items.flatMap((item, i) => item.captions.map(() => i)));
  const chunks: Float32Array[] = [];
  for (let start = 0; start < captions.length; start += 256) {
    chunks.push((await encoders.text.encode(captions.slice(start, start + 256))).vectors);
  }
  return { text: concat(chunks, captions.length * encoders.text.dims), captionImage };
}

async function readCache(dir: string, data: PairedData, key: string): Promise<PairedFeatures | undefined> {
  let meta: CacheMeta;
  try {
    meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as CacheMeta;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (meta.key !== key) return undefined;
  const items = meta.kept.map((i) => data.items[i] as PairedItem);
  const image = await readFloats(path.join(dir, 'image.f32'), items.length * meta.imageDims);
  const text = await readFloats(path.join(dir, 'text.f32'), meta.captions * meta.textDims);
  const captionImage = Int32Array.from(items.flatMap((item, i) => item.captions.map(() => i)));
  if (captionImage.length !== meta.captions) throw new Error('caption count differs from the cached one');
  return {
    text,
    image,
    textDims: meta.textDims,
    imageDims: meta.imageDims,
    captionImage,
    items,
    kept: meta.kept,
    key,
    fromCache: true,
  };
}

/** Writes into a temporary folder and renames it into place, so a half-written cache is never read. */
async function writeCache(dir: string, f: PairedFeatures, encoders: Encoders): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const meta: CacheMeta = {
    key: f.key,
    encoders: { text: encoders.text.fingerprint, image: encoders.image.fingerprint },
    textDims: f.textDims,
    imageDims: f.imageDims,
    kept: f.kept,
    captions: f.captionImage.length,
  };
  await writeFile(
    path.join(tmp, 'image.f32'),
    new Uint8Array(f.image.buffer, f.image.byteOffset, f.image.byteLength),
  );
  await writeFile(
    path.join(tmp, 'text.f32'),
    new Uint8Array(f.text.buffer, f.text.byteOffset, f.text.byteLength),
  );
  await writeFile(path.join(tmp, 'meta.json'), JSON.stringify(meta));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

async function readFloats(file: string, expected: number): Promise<Float32Array> {
  const bytes = await readFile(file);
  if (bytes.byteLength !== expected * 4)
    throw new Error(`${path.basename(file)} holds ${bytes.byteLength / 4} floats, expected ${expected}`);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function concat(chunks: Float32Array[], length: number): Float32Array {
  const out = new Float32Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
