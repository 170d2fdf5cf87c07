/**
 * What the image decoder produces and needs. Defined here, below models/, because media may not
 * import from models; src/models/types.ts re-exports both.
 */

/** What `preprocessor_config.json` says about turning an image into `pixel_values`. */
export interface PreprocessSpec {
  /** Shortest edge after resize (ResNet/CLIP style), before the centre crop. */
  shortestEdge: number;
  cropHeight: number;
  cropWidth: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Multiply 0..255 values by this before normalising (HF `rescale_factor`, usually 1/255). */
  rescaleFactor: number;
}

/** A decoded image ready for the image encoder: CHW float32, `3 * cropHeight * cropWidth` long. */
export interface PixelTensor {
  data: Float32Array;
  height: number;
  width: number;
  /** What the source image was, for metadata. */
  source: { width: number; height: number; format: string; bytes: number };
}
