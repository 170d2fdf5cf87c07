/**
 * Stage 1 of a search: turn the query (texts, an image by id, bytes, URL or path) into one
 * L2-normalised vector in the shared space. Composed queries are a weighted sum, re-normalised.
 */
import { AppError } from '../errors.ts';
import type { PixelTensor, PreprocessSpec } from '../models/types.ts';
import type { ImagesRepository } from '../store/images.repository.ts';
import type { VectorsRepository } from '../store/vectors.repository.ts';
import { readLocalImage } from './local-image.ts';
import type { QueryImageTokens } from './query-image-tokens.ts';
import type { QueryBatcher } from './query-batcher.ts';
import { fetchRemoteImage } from './remote-image.ts';
import type { ComposedQuerySpec, ImageQueryInput, QueryEmbedder } from './types.ts';

export type DecodeImage = (
  bytes: Buffer,
  spec: PreprocessSpec,
  limits: { maxBytes: number; maxPixels: number },
) => Promise<PixelTensor>;

export interface QueryEncoderDeps {
  embedder: QueryEmbedder;
  images: ImagesRepository;
  vectors: VectorsRepository;
  decodeImage: DecodeImage;
  limits: { maxImageBytes: number; maxImagePixels: number; maxQueryText: number; requestTimeoutMs: number };
  remoteImageHosts: readonly string[];
  localImageRoots: readonly string[];
  tokens: QueryImageTokens;
  onEncode?: (kind: 'text' | 'image', batchSize: number) => void;
  /** This query's cancellation: a remote image fetch stops (and closes its socket) when it fires. */
  signal?: AbortSignal;
  /** Set when concurrent queries share encoder runs (QUERY_BATCH_WINDOW_MS > 0); it reports onEncode itself. */
  batcher?: QueryBatcher;
}

/**
 * Text the tokenizer reduces to nothing: whitespace, control and format characters (NUL, U+200B,
 * U+FEFF). Searched, it embeds as an empty prompt and ranks arbitrarily, so it counts as blank.
 */
const NOTHING_TO_SEARCH = /^[\s\p{Z}\p{Cc}\p{Cf}]*$/u;

export function checkText(text: string, field: string, maxChars: number): string {
  if (text.length > maxChars) {
    throw new AppError('LIMIT_EXCEEDED', `${field} is ${text.length} characters; the limit is ${maxChars}`);
  }
  if (NOTHING_TO_SEARCH.test(text)) throw new AppError('INVALID_INPUT', `${field} must not be empty`);
  // PostgreSQL text cannot hold NUL: as hybrid keywords it would fail inside the database.
  if (text.includes('\u0000')) {
    throw new AppError('INVALID_INPUT', `${field} must not contain NUL (U+0000) characters`);
  }
  return text.trim();
}

export async function embedText(text: string, deps: QueryEncoderDeps): Promise<Float32Array> {
  if (deps.batcher) return deps.batcher.text(text);
  deps.onEncode?.('text', 1);
  const { vectors } = await deps.embedder.embedTexts([text]);
  return vectors[0]!;
}

export function decodeBase64Image(raw: string, maxBytes: number): Buffer {
  const body = raw.replace(/^data:[\w.+/-]+;base64,/, '').replace(/\s+/g, '');
  if (Math.floor((body.length * 3) / 4) > maxBytes + 3) {
    throw new AppError('LIMIT_EXCEEDED', `Image is larger than ${maxBytes} bytes`);
  }
  if (body === '') throw new AppError('INVALID_IMAGE', 'The image is empty (0 bytes)');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(body)) {
    throw new AppError('INVALID_INPUT', 'image.base64 is not valid base64');
  }
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length > maxBytes) throw new AppError('LIMIT_EXCEEDED', `Image is larger than ${maxBytes} bytes`);
  return bytes;
}

/** The bytes of an image given as base64, an allowlisted URL or a server path (not by id). */
export async function readImageBytes(
  input: ImageQueryInput,
  deps: Pick<QueryEncoderDeps, 'limits' | 'remoteImageHosts' | 'localImageRoots' | 'signal'>,
): Promise<Buffer> {
  const maxBytes = deps.limits.maxImageBytes;
  if (input.token !== undefined && input.token !== null)
    throw new AppError(
      'INVALID_INPUT',
      'A query image token carries only the embedded image, not its pixels: send the image itself',
    );
  if (input.base64 !== undefined && input.base64 !== null) return decodeBase64Image(input.base64, maxBytes);
  if (input.url !== undefined && input.url !== null)
    return fetchRemoteImage(input.url, {
      allowedHosts: deps.remoteImageHosts,
      maxBytes,
      timeoutMs: Math.min(10_000, deps.limits.requestTimeoutMs),
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
  return readLocalImage(input.path!, deps.localImageRoots, maxBytes);
}

/** Refuses an image input that does not give exactly one of its fields. */
export function checkImageInput(input: ImageQueryInput): void {
  const given = (['id', 'base64', 'url', 'path', 'token'] as const).filter(
    (k) => input[k] !== undefined && input[k] !== null,
  );
  if (given.length !== 1) {
    throw new AppError('INVALID_INPUT', 'An image input needs exactly one of id, base64, url, path or token');
  }
}

/** The image's vector: stored for an indexed id, remembered for a token, else decoded and embedded. */
export async function embedImage(
  input: ImageQueryInput,
  deps: QueryEncoderDeps,
): Promise<{ vector: Float32Array; imageId?: number }> {
  checkImageInput(input);
  if (input.token !== undefined && input.token !== null) return deps.tokens.get(input.token);
  if (input.id !== undefined && input.id !== null) {
    const id = input.id;
    const [live] = await deps.images.getByIds([id]);
    const stored = live
      ? (await deps.vectors.get('image', deps.embedder.fingerprint, [id])).get(id)
      : undefined;
    if (!stored) throw new AppError('NOT_FOUND', `No indexed image with id ${id}`);
    return { vector: stored, imageId: id };
  }
  const bytes = await readImageBytes(input, deps);
  const maxBytes = deps.limits.maxImageBytes;
  const pixels = await deps.decodeImage(bytes, deps.embedder.preprocess, {
    maxBytes,
    maxPixels: deps.limits.maxImagePixels,
  });
  if (deps.batcher) return { vector: await deps.batcher.image(pixels) };
  deps.onEncode?.('image', 1);
  const [vector] = await deps.embedder.embedPixels([pixels]);
  return { vector: vector! };
}

/**
 * Below this a non-zero weight scales its unit vector under the norm test of encodeQuery, which then
 * reported "cancels out to nothing" for a query that cancelled nothing: refused by name instead.
 */
const MIN_WEIGHT = 1e-4;

function weight(value: number | undefined, fallback: number, field: string): number {
  const w = value ?? fallback;
  if (!Number.isFinite(w) || Math.abs(w) > 100)
    throw new AppError('INVALID_INPUT', `${field} must be a number in -100..100`);
  if (w !== 0 && Math.abs(w) < MIN_WEIGHT)
    throw new AppError(
      'INVALID_INPUT',
      `${field} must be 0 or at least ${MIN_WEIGHT} in magnitude, got ${w}`,
    );
  return w;
}

/** One normalised query vector for a composed query; `queryImageId` set when the image came by id. */
export async function encodeQuery(
  spec: ComposedQuerySpec,
  deps: QueryEncoderDeps,
): Promise<{ vector: Float32Array; queryImageId?: number }> {
  const max = deps.limits.maxQueryText;
  const parts: { vector: Float32Array; weight: number }[] = [];
  let queryImageId: number | undefined;
  if (spec.text !== undefined && spec.text !== null) {
    const text = checkText(spec.text, 'text', max);
    parts.push({ vector: await embedText(text, deps), weight: weight(spec.textWeight, 1, 'textWeight') });
  }
  if (spec.image) {
    const image = await embedImage(spec.image, deps);
    queryImageId = image.imageId;
    parts.push({ vector: image.vector, weight: weight(spec.imageWeight, 1, 'imageWeight') });
  }
  if (spec.negativeText !== undefined && spec.negativeText !== null) {
    const text = checkText(spec.negativeText, 'negativeText', max);
    parts.push({
      vector: await embedText(text, deps),
      weight: -weight(spec.negativeWeight, 0.5, 'negativeWeight'),
    });
  }
  if (!parts.some((p) => p.weight > 0)) {
    throw new AppError('INVALID_INPUT', 'A query needs a text or an image with a positive weight');
  }
  const dims = deps.embedder.dims;
  const sum = new Float32Array(dims);
  for (const { vector, weight: w } of parts) {
    if (vector.length !== dims) {
      throw new AppError('MODEL_MISMATCH', `Query vector has ${vector.length} dims; the index has ${dims}`);
    }
    for (let i = 0; i < dims; i++) sum[i]! += w * vector[i]!;
  }
  const norm = Math.hypot(...sum);
  if (!(norm > 1e-6)) throw new AppError('INVALID_INPUT', 'The weighted query cancels out to nothing');
  for (let i = 0; i < dims; i++) sum[i]! /= norm;
  return queryImageId === undefined ? { vector: sum } : { vector: sum, queryImageId };
}
