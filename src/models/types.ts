/**
 * The seams between encoders, the projection and their users (ingest, search, train).
 * Vectors travel as row-major Float32Arrays: `n` rows of `dims` floats.
 */

// The pixel seam is defined beside the decoder (media sits below models); re-exported here so
// every encoder-facing type can still be imported from one place.
import type { PixelTensor, PreprocessSpec } from '../media/pixel-types.ts';
export type { PixelTensor, PreprocessSpec };

export interface TextEncoding {
  /** [n, dims] */
  vectors: Float32Array;
  /** How many of the inputs were cut at the model's max length. */
  truncated: number;
}

export interface TextEncoder {
  readonly dims: number;
  readonly maxLength: number;
  readonly fingerprint: string;
  encode(texts: readonly string[]): Promise<TextEncoding>;
}

export interface ImageEncoder {
  readonly dims: number;
  readonly preprocess: PreprocessSpec;
  readonly fingerprint: string;
  /** All pixels must be `preprocess.cropHeight x preprocess.cropWidth`. Returns [n, dims]. */
  encode(pixels: readonly PixelTensor[]): Promise<Float32Array>;
}

/** Maps encoder features into the shared space; output rows are L2-normalised. */
export interface Projection {
  readonly textDims: number;
  readonly imageDims: number;
  readonly dims: number;
  /** Hash of the weights; `initial:<seed>` style ids mark the untrained projection. */
  readonly fingerprint: string;
  readonly trained: boolean;
  projectText(features: Float32Array, n: number): Promise<Float32Array>;
  projectImage(features: Float32Array, n: number): Promise<Float32Array>;
}

export interface Encoders {
  profile: string;
  text: TextEncoder;
  image: ImageEncoder;
  /** The ONNX Runtime execution provider each encoder's session runs on (`cpu`, `cuda`, ...). */
  providers?: { text: string; image: string };
  close(): Promise<void>;
}

/**
 * Encoders followed by the projection: what ingest and search call. Every vector is
 * L2-normalised and `dims` long; `fingerprint` changes when any encoder file, the pooling,
 * the preprocessing or the projection weights change.
 */
export interface Embedder {
  readonly fingerprint: string;
  readonly dims: number;
  readonly preprocess: PreprocessSpec;
  embedTexts(texts: readonly string[]): Promise<{ vectors: Float32Array[]; truncated: number }>;
  embedPixels(pixels: readonly PixelTensor[]): Promise<Float32Array[]>;
}
