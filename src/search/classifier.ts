/**
 * Classification for the API: the trained fusion classifiers (DATA_DIR/classifiers/<profile>/<task>)
 * on raw encoder features, and zero-shot labels ranked by shared-space similarity.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.ts';
import { classifierFromWeights, type LoadedClassifier } from '../models/classifier.ts';
import {
  activeClassifier,
  CLASSIFIER_TASKS,
  readClassifier,
  type ClassifierTask,
} from '../models/classifier-store.ts';
import type { ProjectionRuntime } from '../models/projection.ts';
import type { Encoders } from '../models/types.ts';
import {
  checkImageInput,
  checkText,
  embedImage,
  readImageBytes,
  type QueryEncoderDeps,
} from './encode-query.ts';
import type { ImageQueryInput } from './types.ts';

/** Labels (zero-shot) or texts (matchScore) per request: each costs one text-encoder row. */
export const MAX_LABELS = 32;

export interface LabelScore {
  label: string;
  probability: number;
}

export interface Classification {
  task: string | null;
  method: 'TRAINED' | 'ZERO_SHOT';
  /** The classifier's fingerprint, or the projection's for zero-shot. */
  model: string;
  labels: LabelScore[];
}

export interface ClassifierInfo {
  task: string;
  fingerprint: string;
  labels: string[];
  fusion: string;
  testAccuracy: number | null;
  trainedAt: string | null;
}

export interface ClassifierServiceDeps {
  /** The frozen encoders: trained classifiers read their raw features. */
  encoders: Pick<Encoders, 'text' | 'image'>;
  /** Image inputs, the embedder and the limits, as search uses them. */
  query: QueryEncoderDeps;
  /** The projection's learned log inverse temperature, which turns similarities into probabilities. */
  logitScale: number;
  projection: string;
  dirOf: (task: string) => string;
  runtime: ProjectionRuntime;
}

export class ClassifierService {
  private readonly loaded = new Map<string, { fingerprint: string; model: Promise<LoadedClassifier> }>();

  constructor(private readonly deps: ClassifierServiceDeps) {}

  /** With `task`: the trained classifier; with `labels` instead: zero-shot. Exactly one of the two. */
  async classify(input: {
    image: ImageQueryInput;
    text?: string | null;
    task?: string | null;
    labels?: readonly string[] | null;
  }): Promise<Classification> {
    const hasTask = input.task !== undefined && input.task !== null;
    const hasLabels = input.labels !== undefined && input.labels !== null;
    if (hasTask === hasLabels)
      throw new AppError(
        'INVALID_INPUT',
        'classify needs exactly one of `task` (a trained classifier) or `labels` (zero-shot)',
      );
    checkImageInput(input.image);
    if (hasLabels) {
      if (input.text !== undefined && input.text !== null)
        throw new AppError(
          'INVALID_INPUT',
          '`text` goes with a `task`; zero-shot `labels` are ranked by the image alone',
        );
      return this.zeroShot(input.image, input.labels!);
    }
    const task = checkTask(input.task!);
    if (input.text === undefined || input.text === null)
      throw new AppError('INVALID_INPUT', `task ${task} classifies an image with a text: give \`text\``);
    const text = checkText(input.text, 'text', this.deps.query.limits.maxQueryText);
    const { model, fingerprint } = await this.model(task);
    const probs = await this.predict(model, input.image, [text]);
    const labels = model.weights.labels.map((label, k) => ({ label, probability: probs[k] as number }));
    return {
      task,
      method: 'TRAINED',
      model: fingerprint,
      labels: labels.sort((a, b) => b.probability - a.probability),
    };
  }

  /** The trained `match` classifier's probability that each text describes the image, in the given order. */
  async matchScore(
    image: ImageQueryInput,
    texts: readonly string[],
  ): Promise<{ text: string; probability: number }[]> {
    checkImageInput(image);
    const checked = checkList(texts, 'texts', this.deps.query.limits.maxQueryText);
    const { model } = await this.model('match');
    const probs = await this.predict(model, image, checked);
    const yes = model.weights.labels.indexOf('match');
    return texts.map((text, i) => ({ text, probability: probs[i * model.weights.classes + yes] as number }));
  }

  /** The trained classifiers of this profile (damaged ones are left out here; using them says why). */
  async list(): Promise<ClassifierInfo[]> {
    const out: ClassifierInfo[] = [];
    for (const task of CLASSIFIER_TASKS) {
      const stored = await readClassifier(this.deps.dirOf(task)).catch(() => undefined);
      if (stored === undefined) continue;
      const card = stored.card as { date?: string; scores?: { test?: { accuracy?: number } } };
      out.push({
        task,
        fingerprint: stored.fingerprint,
        labels: stored.weights.labels,
        fusion: stored.weights.fusion,
        testAccuracy: card.scores?.test?.accuracy ?? null,
        trainedAt: card.date ?? null,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const { model } of this.loaded.values()) await (await model.catch(() => undefined))?.close();
    this.loaded.clear();
  }

  private async zeroShot(image: ImageQueryInput, raw: readonly string[]): Promise<Classification> {
    const labels = checkList(raw, 'labels', this.deps.query.limits.maxQueryText);
    const { vector } = await embedImage(image, this.deps.query);
    const { vectors } = await this.deps.query.embedder.embedTexts(labels);
    const scale = Math.exp(this.deps.logitScale);
    const logits = vectors.map((v) => scale * v.reduce((s, x, k) => s + x * (vector[k] as number), 0));
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((a, b) => a + b, 0);
    const scored = raw.map((label, i) => ({ label, probability: (exps[i] as number) / total }));
    return {
      task: null,
      method: 'ZERO_SHOT',
      model: this.deps.projection,
      labels: scored.sort((a, b) => b.probability - a.probability),
    };
  }

  /** Probabilities [texts, N] for one image paired with each text. */
  private async predict(
    model: LoadedClassifier,
    image: ImageQueryInput,
    texts: string[],
  ): Promise<Float32Array> {
    const { encoders, query } = this.deps;
    const limits = { maxBytes: query.limits.maxImageBytes, maxPixels: query.limits.maxImagePixels };
    const bytes = await this.imageBytes(image);
    const pixels = await query.decodeImage(bytes, encoders.image.preprocess, limits);
    const imageFeatures = await encoders.image.encode([pixels]);
    const { vectors } = await encoders.text.encode(texts);
    const repeated = new Float32Array(texts.length * imageFeatures.length);
    for (let i = 0; i < texts.length; i++) repeated.set(imageFeatures, i * imageFeatures.length);
    return model.predict({ text: vectors, image: repeated }, texts.length);
  }

  /** Raw features need the pixels: an indexed image is read back from its local file. */
  private async imageBytes(image: ImageQueryInput): Promise<Buffer> {
    if (image.id === undefined || image.id === null) return readImageBytes(image, this.deps.query);
    const [record] = await this.deps.query.images.getByIds([image.id]);
    if (!record) throw new AppError('NOT_FOUND', `No indexed image with id ${image.id}`);
    const file = record.uri.startsWith('file://')
      ? fileURLToPath(record.uri)
      : path.isAbsolute(record.uri)
        ? record.uri
        : undefined;
    const bytes = file === undefined ? undefined : await readFile(file).catch(() => undefined);
    if (bytes === undefined)
      throw new AppError(
        'INVALID_INPUT',
        `image ${image.id}'s original is not readable on this server (only its vector is stored); pass its bytes as base64`,
      );
    if (bytes.length > this.deps.query.limits.maxImageBytes)
      throw new AppError(
        'LIMIT_EXCEEDED',
        `Image is larger than ${this.deps.query.limits.maxImageBytes} bytes`,
      );
    return bytes;
  }

  /** The task's active classifier, loaded once per fingerprint (a retrain is picked up on the next call). */
  private async model(task: ClassifierTask): Promise<{ model: LoadedClassifier; fingerprint: string }> {
    const dir = this.deps.dirOf(task);
    const fingerprint = await activeClassifier(dir);
    if (fingerprint === undefined)
      throw new AppError(
        'MODEL_MISSING',
        `no classifier is trained for task "${task}"; train one with \`npm run train-classifier -- --task ${task}\``,
      );
    const cached = this.loaded.get(task);
    if (cached?.fingerprint === fingerprint) return { model: await cached.model, fingerprint };
    const model = this.load(task, dir);
    this.loaded.set(task, { fingerprint, model });
    model.catch(() => this.loaded.delete(task));
    if (cached) void cached.model.then((m) => m.close()).catch(() => undefined);
    return { model: await model, fingerprint };
  }

  private async load(task: ClassifierTask, dir: string): Promise<LoadedClassifier> {
    const stored = await readClassifier(dir);
    if (stored === undefined)
      throw new AppError('MODEL_MISSING', `the ${task} classifier vanished while loading`);
    const { text, image } = this.deps.encoders;
    if (stored.encoders.text !== text.fingerprint || stored.encoders.image !== image.fingerprint)
      throw new AppError(
        'MODEL_MISMATCH',
        `the ${task} classifier was trained on other encoders' features; train it again with \`npm run train-classifier -- --task ${task}\``,
      );
    return classifierFromWeights(stored.weights, this.deps.runtime);
  }
}

function checkTask(task: string): ClassifierTask {
  if (!(CLASSIFIER_TASKS as readonly string[]).includes(task))
    throw new AppError(
      'INVALID_INPUT',
      `unknown task "${task.slice(0, 64)}"; known tasks: ${CLASSIFIER_TASKS.join(', ')}`,
    );
  return task as ClassifierTask;
}

function checkList(items: readonly string[], field: string, maxChars: number): string[] {
  if (items.length === 0) throw new AppError('INVALID_INPUT', `${field} must hold at least one text`);
  if (items.length > MAX_LABELS)
    throw new AppError('LIMIT_EXCEEDED', `${field} holds ${items.length} texts; the limit is ${MAX_LABELS}`);
  return items.map((t, i) => checkText(t, `${field}[${i}]`, maxChars));
}
