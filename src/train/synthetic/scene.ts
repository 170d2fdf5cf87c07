import type { Rng } from '../rng.ts';
import {
  BACKGROUND_NAMES,
  COLOUR_NAMES,
  POSITION_NAMES,
  SHAPE_NAMES,
  SIZE_NAMES,
  type Background,
  type Colour,
  type Position,
  type Shape,
  type Size,
} from './vocabulary.ts';

export interface SceneObject {
  shape: Shape;
  colour: Colour;
  size: Size;
  position: Position;
}

export interface Scene {
  background: Background;
  objects: SceneObject[];
}

/** What one caption claims about its image: the objects it names (each with some fields) and maybe a count. */
export interface NamedAttributes {
  count?: number;
  objects: Partial<SceneObject>[];
}

export const ATTRIBUTE_KEYS = ['colour', 'shape', 'size', 'position'] as const;
export type AttributeKey = (typeof ATTRIBUTE_KEYS)[number];

export interface SceneOptions {
  /** Shapes to draw from. @default circle, square, triangle, star */
  shapes?: readonly Shape[];
  /** Relative odds of 1, 2, 3 objects. @default [0.55, 0.45, 0] */
  objectCountWeights?: readonly [number, number, number];
}

export const DEFAULT_SHAPES: readonly Shape[] = SHAPE_NAMES.slice(0, 4);

export function sampleScene(rng: Rng, options: SceneOptions = {}): Scene {
  const shapes = options.shapes ?? DEFAULT_SHAPES;
  const weights = options.objectCountWeights ?? [0.55, 0.45, 0];
  const total = weights[0] + weights[1] + weights[2];
  let u = rng.next() * total;
  let count = 1;
  for (const w of weights) {
    if (u < w) break;
    u -= w;
    count++;
  }
  count = Math.min(count, 3);
  // Distinct positions keep every object visible and every position phrase true.
  const positions = rng.shuffle([...POSITION_NAMES]).slice(0, count);
  const objects = positions.map((position) => ({
    shape: rng.pick(shapes),
    colour: rng.pick(COLOUR_NAMES),
    size: rng.pick(SIZE_NAMES),
    position,
  }));
  return { background: rng.pick(BACKGROUND_NAMES), objects };
}

/**
 * True when the scene shows everything the caption names: the count if given, and a distinct
 * object for each named object whose every named field matches.
 */
export function satisfies(scene: Scene, named: NamedAttributes): boolean {
  if (named.count !== undefined && named.count !== scene.objects.length) return false;
  return assign(scene.objects, named.objects, 0, new Set());
}

function assign(
  objects: readonly SceneObject[],
  wanted: readonly Partial<SceneObject>[],
  i: number,
  used: Set<number>,
): boolean {
  if (i === wanted.length) return true;
  const want = wanted[i] as Partial<SceneObject>;
  for (let j = 0; j < objects.length; j++) {
    if (used.has(j) || !matches(objects[j] as SceneObject, want)) continue;
    used.add(j);
    if (assign(objects, wanted, i + 1, used)) return true;
    used.delete(j);
  }
  return false;
}

function matches(object: SceneObject, want: Partial<SceneObject>): boolean {
  for (const key of ATTRIBUTE_KEYS) {
    if (want[key] !== undefined && want[key] !== object[key]) return false;
  }
  return true;
}

/** Only the given attribute type of a caption's claims, e.g. just the colours it names. */
export function restrictTo(named: NamedAttributes, key: AttributeKey): NamedAttributes {
  return { objects: named.objects.filter((o) => o[key] !== undefined).map((o) => ({ [key]: o[key] })) };
}
