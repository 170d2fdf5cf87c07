import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import { AppError, describeError } from '../errors.ts';

/**
 * The projection's weights and their file format: weights.json (a header) plus weights.bin (one
 * little-endian float32 blob), checked against the fingerprint on every read.
 */

export type HeadKind = 'mlp' | 'linear';

/** One head. `w1` is [inDims, hidden] for an MLP ([inDims, outDims] when linear). */
export interface HeadWeights {
  /** Per-feature standardisation fitted on the training set (0 and 1 when untrained). */
  mean: Float32Array;
  invStd: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  /** [hidden, outDims]; absent for a linear head. */
  w2?: Float32Array;
  b2?: Float32Array;
}

export interface ProjectionWeights {
  head: HeadKind;
  textDims: number;
  imageDims: number;
  dims: number;
  /** MLP hidden width; 0 for linear heads. */
  hiddenDims: number;
  /** Learned log of the inverse temperature, kept for the card and for resuming. */
  logitScale: number;
  text: HeadWeights;
  image: HeadWeights;
}

interface TensorEntry {
  name: string;
  length: number;
  offset: number;
}

export interface WeightsHeader {
  format: 'crossmodal-projection';
  version: 1;
  fingerprint: string;
  head: HeadKind;
  textDims: number;
  imageDims: number;
  dims: number;
  hiddenDims: number;
  logitScale: number;
  /** Fingerprints of the encoders the weights were fitted to. */
  encoders?: { text: string; image: string };
  tensors: TensorEntry[];
}

function tensorsOf(w: ProjectionWeights): [string, Float32Array][] {
  const out: [string, Float32Array][] = [];
  for (const side of ['text', 'image'] as const) {
    for (const [key, value] of Object.entries(w[side]))
      if (value instanceof Float32Array) out.push([`${side}.${key}`, value]);
  }
  return out;
}

/** Hash of shape and every weight: changes whenever the projection would map anything differently. */
export function weightsHash(w: ProjectionWeights): string {
  const hash = createHash('sha256').update(
    JSON.stringify([w.head, w.textDims, w.imageDims, w.dims, w.hiddenDims]),
  );
  for (const [name, t] of tensorsOf(w))
    hash.update(name).update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  return hash.digest('hex');
}

export function projectionFingerprint(w: ProjectionWeights): string {
  return `proj-${weightsHash(w).slice(0, 16)}`;
}

/**
 * Writes weights.bin then weights.json into `dir`. Two renames are not one commit, so this only
 * writes a staging folder; projection-store.ts commits the folder as a unit and serves readers.
 */
export async function writeProjectionFiles(
  dir: string,
  w: ProjectionWeights,
  encoders?: { text: string; image: string },
): Promise<WeightsHeader> {
  await mkdir(dir, { recursive: true });
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of tensorsOf(w)) {
    tensors.push({ name, length: t.length, offset });
    offset += t.length;
  }
  const blob = new Float32Array(offset);
  for (const [i, [, t]] of tensorsOf(w).entries()) blob.set(t, tensors[i]!.offset);
  const { text: _t, image: _i, ...shape } = w;
  const header: WeightsHeader = {
    format: 'crossmodal-projection',
    version: 1,
    fingerprint: projectionFingerprint(w),
    ...shape,
    ...(encoders ? { encoders } : {}),
    tensors,
  };
  await writeFileAtomic(path.join(dir, 'weights.bin'), new Uint8Array(blob.buffer));
  await writeFileAtomic(path.join(dir, 'weights.json'), `${JSON.stringify(header, null, 2)}\n`);
  return header;
}

/** Reads the projection files in `dir`; `undefined` when none is there, MODEL_INVALID when damaged. */
export async function readProjectionFiles(
  dir: string,
): Promise<{ weights: ProjectionWeights; header: WeightsHeader } | undefined> {
  let headerText: string;
  try {
    headerText = await readFile(path.join(dir, 'weights.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const header = JSON.parse(headerText) as WeightsHeader;
    if (header.format !== 'crossmodal-projection' || header.version !== 1)
      throw new Error('unknown format or version');
    const bytes = await readFile(path.join(dir, 'weights.bin'));
    const blob = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const text: Record<string, Float32Array> = {};
    const image: Record<string, Float32Array> = {};
    for (const t of header.tensors) {
      if (t.offset + t.length > blob.length)
        throw new Error(`tensor ${t.name} runs past the end of weights.bin`);
      const [side, key] = t.name.split('.') as [string, string];
      (side === 'text' ? text : image)[key] = blob.slice(t.offset, t.offset + t.length);
    }
    const { tensors: _x, fingerprint: _f, format: _g, version: _v, encoders: _e, ...shape } = header;
    const weights: ProjectionWeights = {
      ...shape,
      text: text as unknown as HeadWeights,
      image: image as unknown as HeadWeights,
    };
    checkShapes(weights);
    if (`proj-${weightsHash(weights).slice(0, 16)}` !== header.fingerprint)
      throw new Error('weights do not match the fingerprint in weights.json');
    return { weights, header };
  } catch (error) {
    throw new AppError(
      'MODEL_INVALID',
      `projection in ${dir} is damaged: ${describeError(error)}; delete it or run \`npm run train\``,
      { cause: error },
    );
  }
}

function checkShapes(w: ProjectionWeights): void {
  const first = w.head === 'mlp' ? w.hiddenDims : w.dims;
  for (const [side, inDims] of [
    ['text', w.textDims],
    ['image', w.imageDims],
  ] as const) {
    const h = w[side];
    const want: Record<string, number> = { mean: inDims, invStd: inDims, w1: inDims * first, b1: first };
    if (w.head === 'mlp') Object.assign(want, { w2: w.hiddenDims * w.dims, b2: w.dims });
    for (const [key, length] of Object.entries(want)) {
      const t = (h as unknown as Record<string, Float32Array | undefined>)[key];
      if (t?.length !== length)
        throw new Error(`${side}.${key} should hold ${length} values, has ${t?.length ?? 0}`);
    }
  }
}
