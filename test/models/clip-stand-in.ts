import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { buildVocab, tokenizerConfigJson, tokenizerJson } from '../../src/models/tiny/tokenizer-files.ts';
import { GraphBuilder } from '../../src/onnx/graph-builder.ts';

/**
 * A CLIP-layout stand-in whose towers agree by construction, for the zero-shot tests: the real
 * CLIP cannot be downloaded here. Both towers end in the same map P (3 -> DIMS):
 * - vision: pixel_values -> mean colour over space (the CLIP-normalised RGB) -> P -> image_embeds;
 * - text: each token id looks up a row of a table and the rows are summed over the attention
 *   mask; a colour word's row is P applied to that colour's normalised RGB, every other row is 0.
 * So "a red photo" and a solid red image have the same embedding, and the cosine rankings that
 * CLIP's zero-shot search would give are known in closed form (`embeddingOf`).
 * The tokenizer is the tiny WordPiece one: the real BPE tokenizer is another loader's concern.
 */

export const DIMS = 8;
const CROP = 32;
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** The caption word and the solid RGB of each pair. */
export const COLOURS: Readonly<Record<string, readonly [number, number, number]>> = {
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  yellow: [255, 255, 0],
  purple: [128, 0, 128],
  black: [0, 0, 0],
};

/** More colour words of the tiny vocabulary, for training: similar colours make zero-shot errors possible. */
export const PALETTE: Readonly<Record<string, readonly [number, number, number]>> = {
  ...COLOURS,
  crimson: [220, 20, 60],
  scarlet: [255, 36, 0],
  maroon: [128, 0, 0],
  orange: [255, 165, 0],
  gold: [255, 215, 0],
  amber: [255, 191, 0],
  lime: [50, 205, 50],
  olive: [128, 128, 0],
  teal: [0, 128, 128],
  cyan: [0, 255, 255],
  turquoise: [64, 224, 208],
  navy: [0, 0, 128],
  azure: [0, 127, 255],
  violet: [238, 130, 238],
  lavender: [181, 126, 220],
  pink: [255, 192, 203],
  magenta: [255, 0, 255],
  brown: [139, 69, 19],
  tan: [210, 180, 140],
  beige: [245, 245, 220],
  white: [255, 255, 255],
  grey: [128, 128, 128],
  silver: [192, 192, 192],
};

/** P, 3 x DIMS, full column rank so distinct colours keep distinct directions. */
const P = Float32Array.from({ length: 3 * DIMS }, (_, i) => Math.sin(1.7 * i + 0.3));

function normalised(rgb: readonly number[]): number[] {
  return rgb.map((v, c) => (v / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!);
}

/**
 * The embedding both towers give a mean RGB (0-255), in float64 to rank against independently:
 * a caption naming a colour, or a photo whose decoded pixels average to it. `twist` turns the
 * colour (radians, about the grey axis) first: the text tower of a stand-in whose towers only
 * roughly agree, so that zero-shot makes mistakes a fine-tune can fix.
 */
export function embeddingOf(rgb: readonly number[], twist = 0): number[] {
  const x = rotateAboutGrey(normalised(rgb), twist);
  return Array.from({ length: DIMS }, (_, j) => x.reduce((s, v, c) => s + v * P[c * DIMS + j]!, 0));
}

/** A photo's mean RGB as decoded (JPEG shifts solid colours a little). */
export async function meanRgb(file: string): Promise<number[]> {
  return (await sharp(file).removeAlpha().stats()).channels.slice(0, 3).map((c) => c.mean);
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  const dot = a.reduce((s, v, i) => s + v * b[i]!, 0);
  return dot / Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));
}

function rotateAboutGrey(x: number[], angle: number): number[] {
  if (angle === 0) return x;
  // Rodrigues' rotation about the unit vector (1, 1, 1) / sqrt(3).
  const k = [1, 1, 1].map((v) => v / Math.sqrt(3));
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  const dot = x.reduce((a, v, i) => a + v * k[i]!, 0);
  const cross = [k[1]! * x[2]! - k[2]! * x[1]!, k[2]! * x[0]! - k[0]! * x[2]!, k[0]! * x[1]! - k[1]! * x[0]!];
  return x.map((v, i) => v * c + cross[i]! * s + k[i]! * dot * (1 - c));
}

async function put(file: string, content: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

/**
 * Writes DATA_DIR/models/clip/{text,image} in the Hugging Face layout the clip profile reads.
 * `twist` (radians) turns the text tower's colours away from the vision tower's. @default 0
 */
export async function writeClipStandIn(dataDir: string, options: { twist?: number } = {}): Promise<void> {
  const root = path.join(dataDir, 'models', 'clip');
  const vocab = buildVocab();

  // Text tower.
  const table = new Float32Array(vocab.length * DIMS);
  for (const [colour, rgb] of Object.entries(PALETTE)) {
    const id = vocab.indexOf(colour);
    if (id < 0) throw new Error(`the tiny vocabulary lacks "${colour}"`);
    table.set(embeddingOf(rgb, options.twist ?? 0), id * DIMS);
  }
  const t = new GraphBuilder('clip_text_stand_in');
  t.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  t.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const rows = t.op('Gather', [t.initializer('token_embeds', [vocab.length, DIMS], table), 'input_ids'], {
    axis: 0,
  });
  const mask = t.op('Unsqueeze', [
    t.op('Cast', ['attention_mask'], { to: 1 }),
    t.constant([1], new BigInt64Array([2n])),
  ]);
  t.node('ReduceSum', [t.op('Mul', [rows, mask]), t.constant([1], new BigInt64Array([1n]))], 'text_embeds', {
    keepdims: 0,
  });
  t.output('text_embeds', 'float32', ['batch_size', DIMS]);
  await put(path.join(root, 'text', 'onnx', 'text_model.onnx'), t.toBytes());
  await put(
    path.join(root, 'text', 'config.json'),
    JSON.stringify({
      model_type: 'clip',
      projection_dim: DIMS,
      text_config: { max_position_embeddings: 77 },
      vision_config: { image_size: CROP },
    }),
  );
  await put(path.join(root, 'text', 'tokenizer.json'), JSON.stringify(tokenizerJson(vocab)));
  await put(path.join(root, 'text', 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson(77)));

  // Vision tower.
  const v = new GraphBuilder('clip_vision_stand_in');
  v.input('pixel_values', 'float32', ['batch_size', 3, CROP, CROP]);
  const meanColour = v.op('Flatten', [v.op('GlobalAveragePool', ['pixel_values'])], { axis: 1 });
  v.node('MatMul', [meanColour, v.initializer('visual_projection', [3, DIMS], P)], 'image_embeds');
  v.output('image_embeds', 'float32', ['batch_size', DIMS]);
  await put(path.join(root, 'image', 'onnx', 'vision_model.onnx'), v.toBytes());
  await put(
    path.join(root, 'image', 'config.json'),
    JSON.stringify({ model_type: 'clip', projection_dim: DIMS }),
  );
  await put(
    path.join(root, 'image', 'preprocessor_config.json'),
    JSON.stringify({
      crop_size: CROP,
      do_center_crop: true,
      do_normalize: true,
      do_resize: true,
      size: CROP,
      image_mean: CLIP_MEAN,
      image_std: CLIP_STD,
      rescale_factor: 1 / 255,
    }),
  );
}

/**
 * One solid-colour photo per colour, in several sizes and formats (PNG, JPEG, WebP), named by a
 * hash so their order on disk is not the colours' order. Returns file name by colour.
 */
export async function writeColourPhotos(
  dir: string,
  colours: Readonly<Record<string, readonly [number, number, number]>> = COLOURS,
): Promise<Record<string, string>> {
  const formats = ['png', 'jpeg', 'webp'] as const;
  const files: Record<string, string> = {};
  for (const [i, [colour, [r, g, b]]] of Object.entries(colours).entries()) {
    const format = formats[i % formats.length]!;
    const hash = createHash('sha256').update(colour).digest('hex').slice(0, 8);
    const name = `photo-${hash}.${format === 'jpeg' ? 'jpg' : format}`;
    const image = sharp({
      create: { width: 40 + 13 * (i % 6), height: 36 + 7 * (i % 5), channels: 3, background: { r, g, b } },
    });
    // Lossless where the format allows, so the mean colour survives encoding.
    const bytes =
      format === 'png'
        ? await image.png().toBuffer()
        : format === 'jpeg'
          ? await image.jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer()
          : await image.webp({ lossless: true }).toBuffer();
    await put(path.join(dir, name), bytes);
    files[colour] = name;
  }
  return files;
}
