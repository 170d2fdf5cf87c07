import ort from 'onnxruntime-node';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { InferenceSession } from '../onnx/session.ts';
import { describeIo } from './model-files.ts';
import type { ImageEncoder, PixelTensor, PreprocessSpec } from './types.ts';

export interface ImageEncoderOptions {
  /** Largest batch per ORT run (loadEncoders picks 8 on CPU, 64 on GPUs). @default 32 */
  batchSize?: number;
}

/**
 * An image encoder over an ORT session: stacks CHW tensors into `pixel_values` batches and
 * reads one feature vector per image from the profile's feature output. `pooler_output` ([B,D]
 * or [B,D,1,1], HF ResNet and the tiny model) and `image_embeds` (CLIP) are used as they are; a
 * 4-D `last_hidden_state` is averaged over space, a 3-D one (ViT) gives its first token. Class
 * logits are never taken as features: a graph without the profile's output is refused.
 */
export class OrtImageEncoder implements ImageEncoder {
  readonly dims: number;
  readonly preprocess: PreprocessSpec;
  readonly fingerprint: string;

  private constructor(
    private readonly session: InferenceSession,
    /** The graph output the vectors come from. */
    readonly output: string,
    private readonly batchSize: number,
    meta: { dims: number; preprocess: PreprocessSpec; fingerprint: string },
  ) {
    this.dims = meta.dims;
    this.preprocess = meta.preprocess;
    this.fingerprint = meta.fingerprint;
  }

  /** Checks the graph's interface against the preprocessing, then measures `dims` with one real run. */
  static async create(
    session: InferenceSession,
    meta: {
      preprocess: PreprocessSpec;
      fingerprint: string;
      where: string;
      /** The graph output the vectors come from (the profile's feature output). */
      output: string;
      logger?: Logger;
    },
    options: ImageEncoderOptions = {},
  ): Promise<OrtImageEncoder> {
    const io = describeIo(session);
    // Hugging Face exports name the input pixel_values; bare exports (ONNX model zoo) use x,
    // data or input: any single 4-D image input is fed the same NCHW batch.
    const input = session.inputMetadata[0];
    if (session.inputNames.length !== 1 || (input?.isTensor === true && input.shape.length !== 4)) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: an image encoder needs exactly one 4-D image input (pixel_values); this graph has ${io}`,
      );
    }
    const { cropHeight: h, cropWidth: w } = meta.preprocess;
    if (input?.isTensor && input.shape.length === 4) {
      const [, c, gh, gw] = input.shape;
      const clash = (dim: number | string | undefined, want: number) =>
        typeof dim === 'number' && dim !== want;
      if (clash(c, 3) || clash(gh, h) || clash(gw, w)) {
        throw new AppError(
          'MODEL_INVALID',
          `${meta.where}: the image input is [${input.shape.join(',')}] but preprocessor_config.json crops to 3x${h}x${w}`,
        );
      }
    }
    const output = meta.output;
    if (!session.outputNames.includes(output)) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: the profile reads ${output}, which this graph does not output (${io}); ` +
          'fetch the pinned export again (`npm run models -- fetch <profile>`) or use one that outputs it',
      );
    }
    const batchSize = options.batchSize ?? 32;
    const probe = new OrtImageEncoder(session, output, batchSize, { ...meta, dims: 0 });
    const blank: PixelTensor = {
      data: new Float32Array(3 * h * w),
      height: h,
      width: w,
      source: { width: w, height: h, format: 'raw', bytes: 0 },
    };
    let dims: number;
    try {
      dims = (await probe.encode([blank])).length;
    } catch (error) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: a test run failed (${describeError(error)}); ${io}`,
        { cause: error },
      );
    }
    return new OrtImageEncoder(session, output, batchSize, { ...meta, dims });
  }

  async encode(pixels: readonly PixelTensor[]): Promise<Float32Array> {
    const parts: Float32Array[] = [];
    for (let start = 0; start < pixels.length; start += this.batchSize) {
      parts.push(await this.encodeBatch(pixels.slice(start, start + this.batchSize)));
    }
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }

  private async encodeBatch(batch: readonly PixelTensor[]): Promise<Float32Array> {
    const { cropHeight: h, cropWidth: w } = this.preprocess;
    const plane = 3 * h * w;
    const stacked = new Float32Array(batch.length * plane);
    batch.forEach((p, i) => {
      if (p.height !== h || p.width !== w || p.data.length !== plane) {
        throw new AppError(
          'INVALID_INPUT',
          `pixel tensor ${i} is ${p.width}x${p.height} (${p.data.length} values); the encoder wants 3x${h}x${w}`,
        );
      }
      stacked.set(p.data, i * plane);
    });
    const result = await this.session.run(
      { [this.session.inputNames[0]!]: new ort.Tensor('float32', stacked, [batch.length, 3, h, w]) },
      [this.output],
    );
    const out = result[this.output];
    if (out === undefined) throw new AppError('MODEL_INVALID', `image encoder produced no ${this.output}`);
    return toVectors(out.data as Float32Array, out.dims, batch.length);
  }
}

/** Any feature output -> [n, D]. */
function toVectors(data: Float32Array, dims: readonly number[], n: number): Float32Array {
  if (dims.length === 4 && (dims[2]! > 1 || dims[3]! > 1)) {
    // [n, C, H, W] feature map: global average over space.
    const [, C, H, W] = dims as [number, number, number, number];
    const out = new Float32Array(n * C);
    const area = H * W;
    for (let i = 0; i < n * C; i++) {
      let sum = 0;
      for (let j = 0; j < area; j++) sum += data[i * area + j]!;
      out[i] = sum / area;
    }
    return out;
  }
  if (dims.length === 3) {
    // [n, tokens, D] (ViT): the class token.
    const [, T, D] = dims as [number, number, number];
    const out = new Float32Array(n * D);
    for (let i = 0; i < n; i++) out.set(data.subarray(i * T * D, i * T * D + D), i * D);
    return out;
  }
  // [n, D] or [n, D, 1, 1].
  return data.slice(0, n * (data.length / n));
}
