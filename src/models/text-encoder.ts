import path from 'node:path';
import { AutoTokenizer, env as transformersEnv } from '@xenova/transformers';
import ort from 'onnxruntime-node';
import { AppError, describeError } from '../errors.ts';
import type { InferenceSession } from '../onnx/session.ts';
import type { TextEncoder, TextEncoding } from './types.ts';
import { describeIo } from './model-files.ts';

export type TextPooling = 'mean' | 'cls';

export interface TextEncoderOptions {
  /** How token states become one vector when the model gives only `last_hidden_state`. @default 'mean' */
  pooling?: TextPooling;
  /** Largest batch per ORT run (loadEncoders picks 8 on CPU, 64 on GPUs). @default 32 */
  batchSize?: number;
}

/** The subset of a @xenova/transformers tokenizer we call. */
interface Tokenizer {
  (texts: string[], options: Record<string, unknown>): { input_ids: number[][] };
  pad_token_id?: number;
  model_max_length?: number;
}

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

/**
 * transformers.js reads its model path from a global `env`; loads take turns so two directories
 * loaded at once cannot read each other's path.
 */
let tokenizerQueue: Promise<unknown> = Promise.resolve();

/**
 * Loads the tokenizer of a Hugging Face model directory from disk only: remote models are off,
 * so a missing file is an error here, never a silent download.
 */
export function loadTokenizer(dir: string): Promise<Tokenizer> {
  const load = async (): Promise<Tokenizer> => {
    transformersEnv.allowRemoteModels = false;
    transformersEnv.allowLocalModels = true;
    transformersEnv.localModelPath = `${path.dirname(dir)}${path.sep}`;
    try {
      return (await AutoTokenizer.from_pretrained(path.basename(dir))) as unknown as Tokenizer;
    } catch (error) {
      throw new AppError('MODEL_INVALID', `cannot load the tokenizer in ${dir}: ${describeError(error)}`, {
        cause: error,
      });
    }
  };
  const result = tokenizerQueue.then(load, load);
  tokenizerQueue = result.catch(() => undefined);
  return result;
}

/**
 * A text encoder over an ORT session: tokenises, pads each batch to its own longest text,
 * truncates at `maxLength` (counted, keeping the final [SEP]/EOS), and pools to one vector.
 * Models that already pool (CLIP's `text_embeds`) are used as they are.
 */
export class OrtTextEncoder implements TextEncoder {
  readonly dims: number;
  readonly maxLength: number;
  readonly fingerprint: string;
  /** The graph output the vectors come from (`last_hidden_state` pooled, or `text_embeds`). */
  readonly output: string;

  private constructor(
    private readonly session: InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly options: Required<TextEncoderOptions>,
    meta: { dims: number; maxLength: number; fingerprint: string; output: string },
  ) {
    this.dims = meta.dims;
    this.maxLength = meta.maxLength;
    this.fingerprint = meta.fingerprint;
    this.output = meta.output;
  }

  /** Checks the graph's interface, then measures `dims` with one real run. */
  static async create(
    session: InferenceSession,
    tokenizer: Tokenizer,
    meta: { maxLength: number; fingerprint: string; where: string },
    options: TextEncoderOptions = {},
  ): Promise<OrtTextEncoder> {
    const io = describeIo(session);
    if (!session.inputNames.includes('input_ids') || session.inputNames.some((n) => !KNOWN_INPUTS.has(n))) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: a text encoder needs input_ids (and optionally attention_mask, token_type_ids); this graph has ${io}`,
      );
    }
    const output = ['text_embeds', 'last_hidden_state'].find((n) => session.outputNames.includes(n));
    if (output === undefined) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: a text encoder must output last_hidden_state or text_embeds; this graph has ${io}`,
      );
    }
    const full = { pooling: options.pooling ?? 'mean', batchSize: options.batchSize ?? 32 };
    const probe = new OrtTextEncoder(session, tokenizer, full, { ...meta, dims: 0, output });
    let dims: number;
    try {
      dims = (await probe.encode(['probe'])).vectors.length;
    } catch (error) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: a test run failed (${describeError(error)}); ${io}`,
        { cause: error },
      );
    }
    return new OrtTextEncoder(session, tokenizer, full, { ...meta, dims, output });
  }

  async encode(texts: readonly string[]): Promise<TextEncoding> {
    if (texts.length === 0) return { vectors: new Float32Array(0), truncated: 0 };
    const { ids, truncated } = this.tokenize(texts);
    // Batch texts of similar length together so each batch pads little (sentence-transformers
    // does the same); vectors go back to input order below.
    const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
    let vectors = new Float32Array(0);
    for (let start = 0; start < order.length; start += this.options.batchSize) {
      const batch = order.slice(start, start + this.options.batchSize);
      const pooled = await this.runBatch(batch.map((i) => ids[i]!));
      const width = pooled.length / batch.length;
      if (vectors.length === 0) vectors = new Float32Array(texts.length * width);
      batch.forEach((original, j) =>
        vectors.set(pooled.subarray(j * width, (j + 1) * width), original * width),
      );
    }
    return { vectors, truncated };
  }

  /** Token ids with [CLS]/[SEP] (or BOS/EOS); rows over `maxLength` are cut, keeping the last token. */
  private tokenize(texts: readonly string[]): { ids: number[][]; truncated: number } {
    const { input_ids: tokenized } = this.tokenizer([...texts], {
      add_special_tokens: true,
      padding: false,
      truncation: false,
      return_tensor: false,
    });
    let truncated = 0;
    const ids = tokenized.map((row) => {
      if (row.length <= this.maxLength) return row;
      truncated++;
      return [...row.slice(0, this.maxLength - 1), row[row.length - 1]!];
    });
    return { ids, truncated };
  }

  /** One ORT run over rows padded to the longest; returns [n, dims]. */
  private async runBatch(ids: readonly number[][]): Promise<Float32Array> {
    const n = ids.length;
    const T = Math.max(1, ...ids.map((r) => r.length));
    const pad = BigInt(this.tokenizer.pad_token_id ?? 0);
    const inputIds = new BigInt64Array(n * T).fill(pad);
    const mask = new BigInt64Array(n * T);
    ids.forEach((row, i) => {
      row.forEach((id, t) => {
        inputIds[i * T + t] = BigInt(id);
        mask[i * T + t] = 1n;
      });
    });
    const feeds: Record<string, ort.Tensor> = {};
    const all: Record<string, BigInt64Array> = {
      input_ids: inputIds,
      attention_mask: mask,
      token_type_ids: new BigInt64Array(n * T),
    };
    for (const name of this.session.inputNames) feeds[name] = new ort.Tensor('int64', all[name]!, [n, T]);
    const out = (await this.session.run(feeds))[this.output];
    if (out === undefined) throw new AppError('MODEL_INVALID', `text encoder produced no ${this.output}`);
    const data = out.data as Float32Array;
    if (out.dims.length === 2) return data.slice();
    return pool(data, mask, n, T, out.dims[2]!, this.options.pooling);
  }
}

/** [n, T, H] token states -> [n, H]: mean over attended tokens, or the first ([CLS]) token. */
function pool(
  states: Float32Array,
  mask: BigInt64Array,
  n: number,
  T: number,
  H: number,
  pooling: TextPooling,
): Float32Array {
  const out = new Float32Array(n * H);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * H, (i + 1) * H);
    if (pooling === 'cls') {
      row.set(states.subarray(i * T * H, i * T * H + H));
      continue;
    }
    let count = 0;
    for (let t = 0; t < T; t++) {
      if (mask[i * T + t] === 0n) continue;
      count++;
      const base = (i * T + t) * H;
      for (let h = 0; h < H; h++) row[h]! += states[base + h]!;
    }
    for (let h = 0; h < H; h++) row[h]! /= Math.max(1, count);
  }
  return out;
}
