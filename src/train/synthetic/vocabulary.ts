/**
 * The synthetic world: what a scene can contain and the words captions may use for it.
 * Several words per value give the paraphrases; the canonical word (first) is what attributes store.
 * Words are drawn from the tiny text encoder's vocabulary (src/models/tiny/words.ts), so none becomes [UNK].
 */

export const COLOURS = {
  red: { rgb: '#d62020', words: ['red', 'crimson', 'scarlet'] },
  green: { rgb: '#22a033', words: ['green', 'forest green'] },
  blue: { rgb: '#2040d8', words: ['blue', 'azure'] },
  yellow: { rgb: '#f0d820', words: ['yellow', 'golden'] },
  orange: { rgb: '#f08010', words: ['orange', 'amber'] },
  purple: { rgb: '#8a2ac0', words: ['purple', 'violet'] },
  pink: { rgb: '#f070b8', words: ['pink', 'rose'] },
  cyan: { rgb: '#20d0d8', words: ['cyan', 'turquoise'] },
} as const;

export const SHAPES = {
  circle: { words: ['circle', 'disc', 'round dot'] },
  square: { words: ['square', 'box', 'block'] },
  triangle: { words: ['triangle', 'three corner shape'] },
  star: { words: ['star', 'five point star'] },
  hexagon: { words: ['hexagon', 'six corner shape'] },
  cross: { words: ['cross', 'plus sign'] },
} as const;

export const SIZES = {
  small: { scale: 0.22, words: ['small', 'little', 'tiny'] },
  large: { scale: 0.4, words: ['large', 'big', 'huge'] },
} as const;

/** Centres as fractions of the image side; phrases read "on the left", "at the top". */
export const POSITIONS = {
  left: { x: 0.24, y: 0.5, phrases: ['on the left', 'at the left', 'to the left'] },
  right: { x: 0.76, y: 0.5, phrases: ['on the right', 'at the right', 'to the right'] },
  top: { x: 0.5, y: 0.24, phrases: ['at the top', 'near the top', 'up top'] },
  bottom: { x: 0.5, y: 0.76, phrases: ['at the bottom', 'near the bottom', 'down below'] },
  centre: { x: 0.5, y: 0.5, phrases: ['in the centre', 'in the middle', 'at the center'] },
} as const;

/** Neutral backgrounds, so no object colour is ever lost against its background. */
export const BACKGROUNDS = {
  white: { rgb: '#f4f4f4', words: ['white', 'pale'] },
  grey: { rgb: '#9a9a9a', words: ['grey', 'gray'] },
  black: { rgb: '#161616', words: ['black', 'dark'] },
  beige: { rgb: '#d9c8a6', words: ['beige', 'sandy'] },
} as const;

export type Colour = keyof typeof COLOURS;
export type Shape = keyof typeof SHAPES;
export type Size = keyof typeof SIZES;
export type Position = keyof typeof POSITIONS;
export type Background = keyof typeof BACKGROUNDS;

export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];
export const SHAPE_NAMES = Object.keys(SHAPES) as Shape[];
export const SIZE_NAMES = Object.keys(SIZES) as Size[];
export const POSITION_NAMES = Object.keys(POSITIONS) as Position[];
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as Background[];

export const COUNT_WORDS = ['zero', 'one', 'two', 'three'] as const;
