import path from 'node:path';
import { AutoTokenizer, env as transformersEnv } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { AppError, describeError } from '../errors.ts';
import type { InferenceSession } from '../onnx/session.ts';
import type { TextEncoder, TextEncoding } from './types.ts';
import { describeIo, shapeOf } from './model-files.ts';

export type TextPooling = 'mean' | 'cls';

export interface TextEncoderOptions {
  /** How token states become one vector when the model gives only `last_hidden_state`. @default 'mean' */
  pooling?: TextPooling;
  /** Largest batch per ORT run (loadEncoders picks 8 on CPU, 64 on GPUs). @default 32 */
  batchSize?: number;
}

/**
 * The subset of a @huggingface/transformers tokenizer we call. It replaced @xenova/transformers
 * 2.17, which cannot read `tokenizer.json` files that store BPE merges as pairs
 * (huggingface/transformers.js#950), the format newer CLIP exports use.
 */
interface Tokenizer {
  (texts: string[], options: Record<string, unknown>): { input_ids: number[][]; token_type_ids?: number[][] };
  pad_token_id?: number | null;
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
      return (await AutoTokenizer.from_pretrained(path.basename(dir), {
        local_files_only: true,
      })) as unknown as Tokenizer;
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

/** What the loader tells the encoder about its graph. */
export interface TextEncoderMeta {
  maxLength: number;
  fingerprint: string;
  /** For messages: the profile, role and ONNX file. */
  where: string;
  /** The graph output the vectors come from (the profile's feature output). */
  output: string;
}

interface Tokenized {
  ids: number[][];
  types: number[][] | undefined;
  truncated: number;
}

/**
 * A text encoder over an ORT session: tokenises, pads each batch to its own longest text (or to
 * the graph's fixed length, e.g. 77 for static CLIP exports), truncates at `maxLength` (counted,
 * keeping the final [SEP]/<|endoftext|>), and pools token states to one vector. Outputs that are
 * already one vector per text (CLIP's `text_embeds`) are used as they are.
 */
export class OrtTextEncoder implements TextEncoder {
  readonly dims: number;
  readonly maxLength: number;
  readonly fingerprint: string;
  /** The graph output the vectors come from (`last_hidden_state` pooled, or `text_embeds`). */
  readonly output: string;
  /** Sequence length the graph requires, when its input_ids shape fixes one. */
  private readonly fixedLength: number | undefined;

  private constructor(
    private readonly session: InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly options: Required<TextEncoderOptions>,
    meta: TextEncoderMeta & { dims: number },
  ) {
    this.dims = meta.dims;
    this.maxLength = meta.maxLength;
    this.fingerprint = meta.fingerprint;
    this.output = meta.output;
    const seq = shapeOf(session.inputMetadata, 'input_ids')?.[1];
    this.fixedLength = typeof seq === 'number' && seq > 0 ? seq : undefined;
  }

  /** Checks the graph's interface, then measures `dims` with one real run. */
  static async create(
    session: InferenceSession,
    tokenizer: Tokenizer,
    meta: TextEncoderMeta,
    options: TextEncoderOptions = {},
  ): Promise<OrtTextEncoder> {
    const io = describeIo(session);
    if (!session.inputNames.includes('input_ids') || session.inputNames.some((n) => !KNOWN_INPUTS.has(n))) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: a text encoder needs input_ids (and optionally attention_mask, token_type_ids); this graph has ${io}`,
      );
    }
    if (!session.outputNames.includes(meta.output)) {
      throw new AppError(
        'MODEL_INVALID',
        `${meta.where}: the profile reads ${meta.output}, which this graph does not output (${io}); ` +
          'fetch the pinned export again (`npm run models -- fetch <profile>`) or use one that outputs it',
      );
    }
    const full = { pooling: options.pooling ?? 'mean', batchSize: options.batchSize ?? 32 };
    const probe = new OrtTextEncoder(session, tokenizer, full, { ...meta, dims: 0 });
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
    return new OrtTextEncoder(session, tokenizer, full, { ...meta, dims });
  }

  async encode(texts: readonly string[]): Promise<TextEncoding> {
    if (texts.length === 0) return { vectors: new Float32Array(0), truncated: 0 };
    const { ids, types, truncated } = this.tokenize(texts);
    // Batch texts of similar length together so each batch pads little (sentence-transformers
    // does the same); vectors go back to input order below.
    const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
    let vectors = new Float32Array(0);
    for (let start = 0; start < order.length; start += this.options.batchSize) {
      const batch = order.slice(start, start + this.options.batchSize);
      const pooled = await this.runBatch(
        batch.map((i) => ids[i]!),
        types && batch.map((i) => types[i]!),
      );
      const width = pooled.length / batch.length;
      if (vectors.length === 0) vectors = new Float32Array(texts.length * width);
      batch.forEach((original, j) =>
        vectors.set(pooled.subarray(j * width, (j + 1) * width), original * width),
      );
    }
    return { vectors, truncated };
  }

  /**
   * Token ids with [CLS]/[SEP] (or <|startoftext|>/<|endoftext|>) and their segment ids; rows
   * over `maxLength` are cut, keeping the last token: CLIP pools at the end token and BERT was
   * trained with [SEP] last.
   */
  private tokenize(texts: readonly string[]): Tokenized {
    const wantTypes = this.session.inputNames.includes('token_type_ids');
    const encoded = this.tokenizer([...texts], {
      add_special_tokens: true,
      padding: false,
      truncation: false,
      return_tensor: false,
      return_token_type_ids: wantTypes,
    });
    let truncated = 0;
    const limit = Math.min(this.maxLength, this.fixedLength ?? Infinity);
    const cut = (row: number[]) => [...row.slice(0, limit - 1), row[row.length - 1]!];
    const ids = encoded.input_ids.map((row) => {
      if (row.length <= limit) return row;
      truncated++;
      return cut(row);
    });
    const types = wantTypes
      ? encoded.input_ids.map((row, i) => {
          const t = encoded.token_type_ids?.[i] ?? row.map(() => 0);
          return t.length <= limit ? t : cut(t);
        })
      : undefined;
    return { ids, types, truncated };
  }

  /** One ORT run over rows padded to the longest (or the fixed length); returns [n, dims]. */
  private async runBatch(
    ids: readonly number[][],
    types: readonly number[][] | undefined,
  ): Promise<Float32Array> {
    const n = ids.length;
    const T = this.fixedLength ?? Math.max(1, ...ids.map((r) => r.length));
    const pad = BigInt(this.tokenizer.pad_token_id ?? 0);
    const inputIds = new BigInt64Array(n * T).fill(pad);
    const mask = new BigInt64Array(n * T);
    const typeIds = new BigInt64Array(n * T);
    ids.forEach((row, i) => {
      row.forEach((id, t) => {
        inputIds[i * T + t] = BigInt(id);
        mask[i * T + t] = 1n;
        typeIds[i * T + t] = BigInt(types?.[i]?.[t] ?? 0);
      });
    });
    const all: Record<string, BigInt64Array> = {
      input_ids: inputIds,
      attention_mask: mask,
      token_type_ids: typeIds,
    };
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) feeds[name] = new ort.Tensor('int64', all[name]!, [n, T]);
    const out = (await this.session.run(feeds, [this.output]))[this.output];
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
