import type { Rng } from '../rng.ts';
import type { NamedAttributes, Scene, SceneObject } from './scene.ts';
import { BACKGROUNDS, COLOURS, COUNT_WORDS, POSITIONS, SHAPES, SIZES } from './vocabulary.ts';

export interface Caption {
  text: string;
  named: NamedAttributes;
}

type Words = (o: SceneObject) => string;
interface Phrase {
  colour: Words;
  shape: Words;
  size: Words;
  position: Words;
}

/** Paraphrase templates for one object; each returns the text and which fields it named. */
const SINGLE: ((p: Phrase, o: SceneObject, bg: string) => Caption)[] = [
  (p, o) =>
    cap(`${a(p.colour(o))} ${p.shape(o)} ${p.position(o)}`, [
      { colour: o.colour, shape: o.shape, position: o.position },
    ]),
  (p, o, bg) =>
    cap(`one ${p.size(o)} ${p.colour(o)} ${p.shape(o)} ${p.position(o)} of ${a(bg)} background`, [
      { size: o.size, colour: o.colour, shape: o.shape, position: o.position },
    ]),
  (p, o) =>
    cap(`${a(p.size(o))} ${p.colour(o)} ${p.shape(o)}`, [{ size: o.size, colour: o.colour, shape: o.shape }]),
  (p, o) =>
    cap(`there is ${a(p.colour(o))} ${p.shape(o)} in the picture`, [{ colour: o.colour, shape: o.shape }]),
  (p, o) =>
    cap(`a picture of ${a(p.size(o))} ${p.shape(o)} ${p.position(o)}`, [
      { size: o.size, shape: o.shape, position: o.position },
    ]),
  (p, o) => cap(`something ${p.colour(o)} ${p.position(o)}`, [{ colour: o.colour, position: o.position }]),
];

/** Templates for two objects (of a scene with two or more). */
const PAIR: ((p: Phrase, x: SceneObject, y: SceneObject, count: number) => Caption)[] = [
  (p, x, y) =>
    cap(
      `${a(p.colour(x))} ${p.shape(x)} ${p.position(x)} and ${a(p.colour(y))} ${p.shape(y)} ${p.position(y)}`,
      [
        { colour: x.colour, shape: x.shape, position: x.position },
        { colour: y.colour, shape: y.shape, position: y.position },
      ],
    ),
  (p, x, y, count) =>
    cap(
      `${COUNT_WORDS[count]} shapes: ${a(p.size(x))} ${p.colour(x)} ${p.shape(x)} and ${a(p.size(y))} ${p.colour(y)} ${p.shape(y)}`,
      [
        { size: x.size, colour: x.colour, shape: x.shape },
        { size: y.size, colour: y.colour, shape: y.shape },
      ],
      count,
    ),
  (p, x, y) =>
    cap(`${a(p.colour(x))} ${p.shape(x)} next to ${a(p.colour(y))} ${p.shape(y)}`, [
      { colour: x.colour, shape: x.shape },
      { colour: y.colour, shape: y.shape },
    ]),
];

/**
 * `count` different captions for a scene, each from a different template and with words drawn
 * from the synonyms, so the text encoder sees paraphrases rather than one fixed sentence.
 */
export function captionScene(rng: Rng, scene: Scene, count: number): Caption[] {
  const phrase: Phrase = {
    colour: (o) => rng.pick(COLOURS[o.colour].words),
    shape: (o) => rng.pick(SHAPES[o.shape].words),
    size: (o) => rng.pick(SIZES[o.size].words),
    position: (o) => rng.pick(POSITIONS[o.position].phrases),
  };
  const bg = rng.pick(BACKGROUNDS[scene.background].words);
  const many = scene.objects.length >= 2;
  const templates = many
    ? [...PAIR.map((_, i) => ({ pair: i })), ...SINGLE.map((_, i) => ({ single: i }))]
    : SINGLE.map((_, i) => ({ single: i }));
  const chosen = rng.shuffle(templates).slice(0, count);
  // Multi-object scenes always get at least one caption that talks about two of its objects.
  if (many && !chosen.some((t) => 'pair' in t)) chosen[0] = { pair: rng.int(PAIR.length) };
  return chosen.map((t) => {
    const objects = rng.shuffle([...scene.objects]);
    const [x, y] = objects as [SceneObject, SceneObject];
    if ('pair' in t) return (PAIR[t.pair] as (typeof PAIR)[number])(phrase, x, y, scene.objects.length);
    return (SINGLE[t.single as number] as (typeof SINGLE)[number])(phrase, x, bg);
  });
}

function cap(text: string, objects: NamedAttributes['objects'], count?: number): Caption {
  return { text, named: count === undefined ? { objects } : { count, objects } };
}

function a(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}
