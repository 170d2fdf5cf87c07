import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { AppError, describeError } from '../errors.ts';
import type { PixelTensor, PreprocessSpec } from './pixel-types.ts';

export interface DecodeLimits {
  /** Larger inputs are refused before sharp sees them. */
  maxBytes: number;
  /** width x height from the header; larger images are refused before decoding. */
  maxPixels: number;
}

/** One result per input: decoding failures are values, so one bad image never aborts a batch. */
export type DecodeResult = { ok: true; value: PixelTensor } | { ok: false; error: AppError };

/** Raster formats we decode. SVG and PDF are refused: they render at any size and can reference files. */
const ALLOWED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif', 'jxl']);

/** A broken or hostile file must fail, never hang a worker. */
const DECODE_TIMEOUT_SECONDS = 30;

/**
 * Decodes any image sharp can read into the encoder's `pixel_values` layout, exactly as
 * `preprocessor_config.json` says: EXIF orientation applied, alpha flattened onto white,
 * grayscale/CMYK/16-bit converted to 8-bit sRGB, resized so the shortest edge is
 * `spec.shortestEdge`, centre-cropped, rescaled and normalised per channel, CHW float32.
 *
 * Zero bytes, non-images, truncated files and unsupported formats -> AppError INVALID_IMAGE;
 * more than `limits.maxBytes` bytes or `limits.maxPixels` pixels -> AppError LIMIT_EXCEEDED.
 */
export async function decodeImage(
  bytes: Buffer,
  spec: PreprocessSpec,
  limits: DecodeLimits,
): Promise<PixelTensor> {
  if (bytes.length === 0) throw new AppError('INVALID_IMAGE', 'image is empty (0 bytes)');
  if (bytes.length > limits.maxBytes) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `image is ${bytes.length} bytes, more than the limit of ${limits.maxBytes} bytes`,
      {
        details: { bytes: bytes.length, maxBytes: limits.maxBytes },
      },
    );
  }
  const options: SharpOptions = {
    failOn: 'truncated',
    limitInputPixels: limits.maxPixels,
    sequentialRead: true,
  };

  let meta: Metadata;
  try {
    // Header only: the pixel limit is checked below with the real numbers in the message.
    meta = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  } catch (error) {
    throw new AppError('INVALID_IMAGE', `not a readable image: ${sharpReason(error)}`, { cause: error });
  }
  const format = String(meta.format ?? 'unknown');
  if (!ALLOWED_FORMATS.has(format)) {
    throw new AppError(
      'INVALID_IMAGE',
      `unsupported image format "${format}" (accepted: ${[...ALLOWED_FORMATS].join(', ')})`,
    );
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new AppError('INVALID_IMAGE', `image header has no size (${format})`);
  if (width * height > limits.maxPixels) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `image is ${width}x${height} = ${width * height} pixels, more than the limit of ${limits.maxPixels} pixels`,
      { details: { width, height, maxPixels: limits.maxPixels } },
    );
  }

  // Hugging Face resizes the shortest edge to `shortest_edge` (truncating the other side), then
  // crops the centre; resizing below the crop would need padding, so never go under it.
  const edge = Math.max(spec.shortestEdge, spec.cropHeight, spec.cropWidth);
  const [rw, rh] =
    width <= height
      ? [edge, Math.max(edge, Math.floor((edge * height) / width))]
      : [Math.max(edge, Math.floor((edge * width) / height)), edge];
  const left = Math.floor((rw - spec.cropWidth) / 2);
  const top = Math.floor((rh - spec.cropHeight) / 2);

  let raw: Buffer;
  try {
    // One pipeline, so libvips shrinks large JPEGs on load instead of decoding every pixel.
    raw = await sharp(bytes, options)
      .autoOrient()
      .resize(rw, rh, { fit: 'fill', kernel: 'cubic' })
      .extract({ left, top, width: spec.cropWidth, height: spec.cropHeight })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .timeout({ seconds: DECODE_TIMEOUT_SECONDS })
      .raw({ depth: 'uchar' })
      .toBuffer();
  } catch (error) {
    const reason = sharpReason(error);
    const code = /pixel limit/i.test(reason)
      ? 'LIMIT_EXCEEDED'
      : /timeout/i.test(reason)
        ? 'TIMEOUT'
        : 'INVALID_IMAGE';
    throw new AppError(code, `could not decode ${format} image: ${reason}`, { cause: error });
  }
  const pixels = spec.cropHeight * spec.cropWidth;
  if (raw.length !== pixels * 3) {
    throw new AppError(
      'INVALID_IMAGE',
      `decoder returned ${raw.length} bytes for a ${spec.cropWidth}x${spec.cropHeight} RGB crop`,
    );
  }
  return {
    data: toChwFloat(raw, spec),
    height: spec.cropHeight,
    width: spec.cropWidth,
    source: { width, height, format, bytes: bytes.length },
  };
}

/**
 * Decodes many images with at most `concurrency` in flight. Results are in input order; a
 * failure is an `{ ok: false, error }` entry, never a rejection.
 */
export async function decodeMany(
  items: readonly Buffer[],
  spec: PreprocessSpec,
  limits: DecodeLimits,
  concurrency = 4,
): Promise<DecodeResult[]> {
  const results = new Array<DecodeResult>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { ok: true, value: await decodeImage(items[index]!, spec, limits) };
      } catch (error) {
        results[index] = {
          ok: false,
          error:
            error instanceof AppError
              ? error
              : new AppError('INVALID_IMAGE', describeError(error), { cause: error }),
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

/** ResNet wants CHW, sharp yields HWC: transpose while rescaling and normalising. */
function toChwFloat(raw: Buffer, spec: PreprocessSpec): Float32Array {
  const plane = spec.cropHeight * spec.cropWidth;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const scale = spec.rescaleFactor / spec.std[c]!;
    const shift = spec.mean[c]! / spec.std[c]!;
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = raw[i * 3 + c]! * scale - shift;
  }
  return out;
}

function sharpReason(error: unknown): string {
  return describeError(error).split('\n')[0]!.trim();
}
