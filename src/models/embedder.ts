import { AppError } from '../errors.ts';
import { shortHash } from './fingerprint.ts';
import type { Embedder, Encoders, PixelTensor, Projection } from './types.ts';

/**
 * Joins the encoders and the projection: features -> projected -> L2-normalised rows. Refuses a
 * projection trained for other encoder dimensions (MODEL_MISMATCH) instead of mixing spaces.
 */
export function createEmbedder(encoders: Encoders, projection: Projection): Embedder {
  const { text, image } = encoders;
  if (projection.textDims !== text.dims || projection.imageDims !== image.dims) {
    throw new AppError(
      'MODEL_MISMATCH',
      `projection ${projection.fingerprint} maps ${projection.textDims}-d text and ${projection.imageDims}-d image features, ` +
        `but the ${encoders.profile} encoders give ${text.dims}-d and ${image.dims}-d; retrain the projection for these encoders`,
    );
  }
  const dims = projection.dims;
  return {
    fingerprint: shortHash(text.fingerprint, image.fingerprint, projection.fingerprint),
    dims,
    preprocess: image.preprocess,
    async embedTexts(texts: readonly string[]) {
      if (texts.length === 0) return { vectors: [], truncated: 0 };
      const encoded = await text.encode(texts);
      const projected = await projection.projectText(encoded.vectors, texts.length);
      return { vectors: splitNormalised(projected, texts.length, dims), truncated: encoded.truncated };
    },
    async embedPixels(pixels: readonly PixelTensor[]) {
      if (pixels.length === 0) return [];
      const features = await image.encode(pixels);
      return splitNormalised(await projection.projectImage(features, pixels.length), pixels.length, dims);
    },
  };
}

/** Rows of a [n, dims] matrix, each scaled to unit length (a zero row stays zero). */
export function splitNormalised(matrix: Float32Array, n: number, dims: number): Float32Array[] {
  if (matrix.length !== n * dims) {
    throw new AppError(
      'MODEL_INVALID',
      `projection returned ${matrix.length} values for ${n} rows of ${dims}`,
    );
  }
  const rows: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = matrix.slice(i * dims, (i + 1) * dims);
    let norm = 0;
    for (const v of row) norm += v * v;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let j = 0; j < dims; j++) row[j]! /= norm;
    rows.push(row);
  }
  return rows;
}
