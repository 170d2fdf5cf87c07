import { CLASSIFIER_TASKS, type ClassifierTask } from '../../models/classifier-store.ts';
import type { Rng } from '../rng.ts';
import { ATTRIBUTE_KEYS, satisfies, type AttributeKey, type Scene, type SceneObject } from './scene.ts';
import {
  COLOUR_NAMES,
  COLOURS,
  POSITION_NAMES,
  POSITIONS,
  SHAPE_NAMES,
  SHAPES,
  SIZE_NAMES,
  SIZES,
} from './vocabulary.ts';

/**
 * Labelled classification tasks over the synthetic scenes, for the fusion classifier:
 * - `match`: is this text a true description of the image? Positives describe one object in full
 *   (size, colour, shape, position); each hard negative is a positive with exactly one attribute
 *   changed, checked false against the scene, so only the image can tell them apart.
 * - `attribute`: a question about the object at a position (or the only object): its colour or
 *   its shape. The text says which attribute and which object, the image holds the answer.
 */

export const TASK_NAMES = CLASSIFIER_TASKS;
export type TaskName = ClassifierTask;

export const TASK_LABELS: Record<TaskName, readonly string[]> = {
  match: ['mismatch', 'match'],
  attribute: [...COLOUR_NAMES, ...SHAPE_NAMES],
};

export interface TaskExample {
  text: string;
  label: number;
  /** `match`: `true`, or the attribute a negative changed; `attribute`: the attribute asked about. */
  kind: 'true' | AttributeKey;
}

const DESCRIBE: ((size: string, colour: string, shape: string, position: string) => string)[] = [
  (sz, c, sh, p) => `${a(sz)} ${c} ${sh} ${p}`,
  (sz, c, sh, p) => `there is ${a(sz)} ${c} ${sh} ${p}`,
  (sz, c, sh, p) => `a picture of ${a(sz)} ${c} ${sh} ${p}`,
  (sz, c, sh, p) => `one ${sz} ${c} ${sh} ${p}`,
];

function describe(rng: Rng, o: SceneObject): string {
  return rng.pick(DESCRIBE)(
    rng.pick(SIZES[o.size].words),
    rng.pick(COLOURS[o.colour].words),
    rng.pick(SHAPES[o.shape].words),
    rng.pick(POSITIONS[o.position].phrases),
  );
}

const VALUES: Record<AttributeKey, readonly string[]> = {
  colour: COLOUR_NAMES,
  shape: SHAPE_NAMES.slice(0, 4),
  size: SIZE_NAMES,
  position: POSITION_NAMES,
};

/** `o` with `key` changed so that no object of the scene fits the description; undefined if none can. */
function falsify(rng: Rng, scene: Scene, o: SceneObject, key: AttributeKey): SceneObject | undefined {
  for (const value of rng.shuffle(VALUES[key].filter((v) => v !== o[key]))) {
    const changed = { ...o, [key]: value } as SceneObject;
    if (!satisfies(scene, { objects: [changed] })) return changed;
  }
  return undefined;
}

/** `pairs` positives and `pairs` hard negatives, the negatives' changed attributes cycling from a random start. */
export function matchExamples(rng: Rng, scene: Scene, pairs = 2): TaskExample[] {
  const out: TaskExample[] = [];
  const first = rng.int(ATTRIBUTE_KEYS.length);
  for (let i = 0; i < pairs; i++) {
    out.push({ text: describe(rng, rng.pick(scene.objects)), label: 1, kind: 'true' });
    for (let tries = 0; tries < ATTRIBUTE_KEYS.length; tries++) {
      const key = ATTRIBUTE_KEYS[(first + i + tries) % ATTRIBUTE_KEYS.length] as AttributeKey;
      const changed = falsify(rng, scene, rng.pick(scene.objects), key);
      if (changed === undefined) continue;
      out.push({ text: describe(rng, changed), label: 0, kind: key });
      break;
    }
  }
  return out;
}

const ASK: Record<'colour' | 'shape', ((where: string) => string)[]> = {
  colour: [(w) => `what colour is the shape${w}`, (w) => `which colour is the object${w}`],
  shape: [(w) => `what shape is the object${w}`, (w) => `which shape is${w || ' it'}`],
};

/** `count` questions, alternating colour and shape, each about one object named by its position. */
export function attributeExamples(rng: Rng, scene: Scene, count = 2): TaskExample[] {
  const labels = TASK_LABELS.attribute;
  const first = rng.int(2);
  return Array.from({ length: count }, (_, i) => {
    const key = (first + i) % 2 === 0 ? 'colour' : 'shape';
    const o = rng.pick(scene.objects);
    // A lone object is "the" shape; among several, the position says which.
    const where =
      scene.objects.length === 1 && rng.next() < 0.5 ? '' : ` ${rng.pick(POSITIONS[o.position].phrases)}`;
    return { text: rng.pick(ASK[key])(where), label: labels.indexOf(o[key]), kind: key };
  });
}

function a(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}
