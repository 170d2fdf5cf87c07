import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import type { Config } from '../config.ts';
import { AppError, describeError } from '../errors.ts';
import { shortHash } from './fingerprint.ts';
import { classifierParams, type ClassifierShape, type ClassifierWeights } from './classifier.ts';

/**
 * Trained classifiers on disk, one folder per task: `<dir>/versions/<fingerprint>/` holds
 * weights.json (header), weights.bin (float32 blob) and card.json, written whole in a staging
 * folder and renamed into place; `<dir>/active` (replaced atomically) names the one in use, so a
 * reader never sees the weights of one training with the header of another (projection-store.ts
 * does the same for the projection).
 *
 * The fingerprint hashes both encoders' fingerprints with every weight, the labels and the shape,
 * as the model fingerprint does for the projection: a classifier is only ever run on features of
 * the encoders it was fitted to.
 */

/**
 * The tasks the engine knows (their data and labels: src/train/synthetic/tasks.ts). A task outside
 * this list is refused by name; a task in it with no trained classifier asks for training.
 */
export const CLASSIFIER_TASKS = ['match', 'attribute'] as const;
export type ClassifierTask = (typeof CLASSIFIER_TASKS)[number];

export function classifierDir(config: Pick<Config, 'paths' | 'profile'>, task: string): string {
  return path.join(config.paths.classifiers, config.profile, task);
}

/** The fingerprint `active` names, or undefined when none was trained (cheap: one small file). */
export async function activeClassifier(dir: string): Promise<string | undefined> {
  const text = await readFile(path.join(dir, 'active'), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text === undefined) return undefined;
  try {
    const { fingerprint } = JSON.parse(text) as { fingerprint: unknown };
    if (typeof fingerprint !== 'string' || !/^cls-[0-9a-f]{16}$/.test(fingerprint))
      throw new Error('`active` names no classifier');
    return fingerprint;
  } catch (error) {
    throw new AppError(
      'MODEL_INVALID',
      `the classifier in ${dir} is damaged: ${describeError(error)}; train it again with \`npm run train-classifier\``,
      { cause: error },
    );
  }
}

interface ClassifierHeader extends ClassifierShape {
  format: 'crossmodal-classifier';
  version: 1;
  fingerprint: string;
  task: string;
  labels: string[];
  encoders: { text: string; image: string };
  tensors: { name: string; offset: number; length: number }[];
}

export interface StoredClassifier {
  weights: ClassifierWeights;
  fingerprint: string;
  task: string;
  encoders: { text: string; image: string };
  /** The JSON card written beside the weights, as written. */
  card: unknown;
}

function tensorNames(s: ClassifierShape): string[] {
  const sides = s.inputs === 'both' ? ['text', 'image'] : [s.inputs];
  return [
    ...sides.flatMap((side) => [`${side}.mean`, `${side}.invStd`]),
    ...classifierParams(s).map(([n]) => n),
  ];
}

export function classifierFingerprint(
  w: ClassifierWeights,
  encoders: { text: string; image: string },
): string {
  const { tensors, ...shape } = w;
  const hash = createHash('sha256').update(JSON.stringify(shape));
  for (const name of tensorNames(w)) {
    const t = tensors[name] as Float32Array;
    hash.update(name).update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  }
  return `cls-${shortHash(encoders.text, encoders.image, hash.digest('hex'))}`;
}

/** Commits `w` (and its card, given the fingerprint) as the active classifier of `dir`. */
export async function commitClassifier(
  dir: string,
  task: string,
  w: ClassifierWeights,
  encoders: { text: string; image: string },
  card: (fingerprint: string) => unknown,
): Promise<string> {
  const fingerprint = classifierFingerprint(w, encoders);
  const versions = path.join(dir, 'versions');
  await mkdir(versions, { recursive: true });
  const staging = path.join(versions, `.staging-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(staging);
    const names = tensorNames(w);
    const tensors: ClassifierHeader['tensors'] = [];
    let offset = 0;
    for (const name of names) {
      const length = (w.tensors[name] as Float32Array).length;
      tensors.push({ name, offset, length });
      offset += length;
    }
    const blob = new Float32Array(offset);
    tensors.forEach((t) => blob.set(w.tensors[t.name] as Float32Array, t.offset));
    const { tensors: _t, ...shape } = w;
    const header: ClassifierHeader = {
      format: 'crossmodal-classifier',
      version: 1,
      fingerprint,
      task,
      ...shape,
      encoders,
      tensors,
    };
    await writeFile(path.join(staging, 'weights.bin'), new Uint8Array(blob.buffer));
    await writeFile(path.join(staging, 'weights.json'), `${JSON.stringify(header, null, 2)}\n`);
    await writeFile(path.join(staging, 'card.json'), `${JSON.stringify(card(fingerprint), null, 2)}\n`);
    const versionDir = path.join(versions, fingerprint);
    // A version folder never changes once committed: the same weights reuse it.
    if (await exists(versionDir)) await rm(staging, { recursive: true, force: true });
    else await rename(staging, versionDir);
    await writeFileAtomic(path.join(dir, 'active'), `${JSON.stringify({ fingerprint })}\n`);
    return fingerprint;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** The active classifier of `dir`; undefined when none was trained, MODEL_INVALID when damaged. */
export async function readClassifier(dir: string): Promise<StoredClassifier | undefined> {
  const fingerprint = await activeClassifier(dir);
  if (fingerprint === undefined) return undefined;
  try {
    const folder = path.join(dir, 'versions', fingerprint);
    const header = JSON.parse(await readFile(path.join(folder, 'weights.json'), 'utf8')) as ClassifierHeader;
    if (header.format !== 'crossmodal-classifier' || header.version !== 1)
      throw new Error('unknown format or version');
    const bytes = await readFile(path.join(folder, 'weights.bin'));
    const blob = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const tensors: Record<string, Float32Array> = {};
    for (const t of header.tensors) {
      if (t.offset + t.length > blob.length) throw new Error(`tensor ${t.name} runs past weights.bin`);
      tensors[t.name] = blob.slice(t.offset, t.offset + t.length);
    }
    const { format: _f, version: _v, fingerprint: _p, task, encoders, tensors: _t, ...shape } = header;
    const weights: ClassifierWeights = { ...shape, tensors };
    checkShapes(weights);
    if (classifierFingerprint(weights, encoders) !== fingerprint)
      throw new Error('weights do not match their fingerprint');
    const card: unknown = JSON.parse(await readFile(path.join(folder, 'card.json'), 'utf8'));
    return { weights, fingerprint, task, encoders, card };
  } catch (error) {
    throw new AppError(
      'MODEL_INVALID',
      `the classifier in ${dir} is damaged: ${describeError(error)}; train it again with \`npm run train-classifier\``,
      { cause: error },
    );
  }
}

function checkShapes(w: ClassifierWeights): void {
  if (w.labels.length !== w.classes) throw new Error(`${w.labels.length} labels for ${w.classes} classes`);
  const sides = w.inputs === 'both' ? (['text', 'image'] as const) : [w.inputs];
  const want: [string, number][] = classifierParams(w).map(([n, dims]) => [
    n,
    dims.reduce((a, b) => a * b, 1),
  ]);
  for (const side of sides) {
    const d = side === 'text' ? w.textDims : w.imageDims;
    want.push([`${side}.mean`, d], [`${side}.invStd`, d]);
  }
  for (const [name, length] of want)
    if (w.tensors[name]?.length !== length)
      throw new Error(`${name} should hold ${length} values, has ${w.tensors[name]?.length ?? 0}`);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
