import path from 'node:path';
import ort from 'onnxruntime-node';
import type { Config, Profile } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { partDir, PROFILES } from '../../src/models/profiles.ts';
import { loadTokenizer } from '../../src/models/text-encoder.ts';
import { createSession, type InferenceSession } from '../../src/onnx/session.ts';

/**
 * The floor an encoder path is measured against: the profile's own ONNX graphs in sessions made
 * with the encoders' options, run on tensors built before the clock starts (token ids padded to the
 * batch's longest text, stacked pixels). No tokenising, decoding, pooling or projection.
 */
export interface BareOrt {
  /** One session.run over the first `n` texts, ready-made. */
  text(n: number): Promise<void>;
  /** One session.run over `n` images, ready-made. */
  image(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function openBareOrt(
  config: Pick<Config, 'paths' | 'device' | 'ort'>,
  profile: Profile,
  logger: Logger,
  texts: readonly string[],
  sizes: readonly number[],
  imageSide: number,
): Promise<BareOrt> {
  const spec = PROFILES[profile];
  const options = { device: config.device, ...config.ort, logger, spinning: false };
  const textDir = partDir(config, profile, 'text');
  const imageDir = partDir(config, profile, 'image');
  const sessions: InferenceSession[] = [
    await createSession(path.join(textDir, spec.text.onnx), options),
    await createSession(path.join(imageDir, spec.image.onnx), options),
  ];
  const [textSession, imageSession] = sessions as [InferenceSession, InferenceSession];
  const tokenizer = await loadTokenizer(textDir);
  const textFeeds = new Map<number, Record<string, ort.Tensor>>();
  for (const n of sizes) {
    const rows = tokenizer([...texts.slice(0, n)], {
      add_special_tokens: true,
      padding: false,
      truncation: false,
      return_tensor: false,
    }).input_ids as number[][];
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(n * T);
    const mask = new BigInt64Array(n * T);
    rows.forEach((row, i) =>
      row.forEach((id, t) => {
        ids[i * T + t] = BigInt(id);
        mask[i * T + t] = 1n;
      }),
    );
    const all: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [n, T]),
      attention_mask: new ort.Tensor('int64', mask, [n, T]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(n * T), [n, T]),
    };
    textFeeds.set(n, Object.fromEntries(textSession.inputNames.map((name) => [name, all[name]!])));
  }
  const side = imageSide;
  const imageFeeds = new Map(
    sizes.map((n) => [
      n,
      {
        [imageSession.inputNames[0]!]: new ort.Tensor(
          'float32',
          Float32Array.from({ length: n * 3 * side * side }, (_, i) => Math.sin(i / 97)),
          [n, 3, side, side],
        ),
      },
    ]),
  );
  return {
    async text(n) {
      await textSession.run(textFeeds.get(n)!, [textSession.outputNames[0]!]);
    },
    async image(n) {
      await imageSession.run(imageFeeds.get(n)!, [imageSession.outputNames[0]!]);
    },
    async close() {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}
