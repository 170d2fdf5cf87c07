import { ExactIndex } from '../store/vector/exact-index.ts';
import {
  ATTRIBUTE_KEYS,
  restrictTo,
  satisfies,
  type NamedAttributes,
  type Scene,
} from './synthetic/scene.ts';

/**
 * Retrieval metrics with the standard COCO / Flickr30k definitions: several captions per image;
 * text->image is a hit when the caption's own image is in the top K, image->text when any of the
 * image's captions is. For synthetic data, attribute-level Precision@K counts every retrieved
 * item that satisfies what the caption names, not only the exact partner.
 */

export interface DirectionScores {
  r1: number;
  r5: number;
  r10: number;
  /** Attribute-level Precision@10; only for data with attributes. */
  p10?: number;
  /** What P@10 a random ranking would score, for scale. */
  p10Chance?: number;
}

export interface RetrievalScores {
  t2i: DirectionScores;
  i2t: DirectionScores;
  /** Attribute-level P@10 per attribute type, e.g. `{ colour: { t2i, i2t } }`. */
  perAttribute?: Record<string, { t2i: number; i2t: number; captions: number; images: number }>;
}

export interface RetrievalData {
  /** [captions, dims], unit rows. */
  textVectors: Float32Array;
  /** [images, dims], unit rows. */
  imageVectors: Float32Array;
  dims: number;
  /** The image index of each caption. */
  captionImage: Int32Array;
  /** Per image and per caption, when the data set has them (synthetic scenes). */
  scenes?: Scene[];
  named?: NamedAttributes[];
}

/** Indices of the top `k` keys for each query by exact inner product, best first. */
export function rankExact(queries: Float32Array, keys: Float32Array, dims: number, k: number): Int32Array[] {
  const index = new ExactIndex(dims, Math.max(1, keys.length / dims));
  const n = keys.length / dims;
  index.add(
    Array.from({ length: n }, (_, i) => i),
    keys,
  );
  const out: Int32Array[] = [];
  for (let q = 0; q < queries.length / dims; q++) {
    out.push(Int32Array.from(index.search(queries.subarray(q * dims, (q + 1) * dims), k).map((h) => h.id)));
  }
  return out;
}

/** Share of queries with at least one hit in their top `k`. */
export function recallAtK(
  ranked: readonly Int32Array[],
  isHit: (query: number, item: number) => boolean,
  k: number,
): number {
  if (ranked.length === 0) return 0;
  let hits = 0;
  ranked.forEach((items, q) => {
    for (let r = 0; r < Math.min(k, items.length); r++) {
      if (isHit(q, items[r] as number)) {
        hits++;
        break;
      }
    }
  });
  return hits / ranked.length;
}

/**
 * Mean over queries of (hits in the top `k`) / min(`k`, gallery size); `queries` limits which
 * queries count. A ranking shorter than `k` is the whole gallery (rankExact returns
 * min(k, gallery)), so dividing by `k` would cap P@10 on 8 items at 0.8 while the chance level,
 * a share of the gallery, is not capped (11.0% against a "chance" of 22.0%). With this
 * definition a random ranking of a gallery of `k` or fewer scores exactly the chance share.
 */
export function precisionAtK(
  ranked: readonly Int32Array[],
  isHit: (query: number, item: number) => boolean,
  k: number,
  queries: readonly number[] = ranked.map((_, i) => i),
): number {
  if (queries.length === 0) return 0;
  let total = 0;
  for (const q of queries) {
    const items = ranked[q] as Int32Array;
    let hits = 0;
    const depth = Math.min(k, items.length);
    for (let r = 0; r < depth; r++) if (isHit(q, items[r] as number)) hits++;
    total += depth === 0 ? 0 : hits / depth;
  }
  return total / queries.length;
}

/** `detail: false` skips the chance level and the per-attribute table (the trainer's per-epoch check). */
export function retrievalScores(data: RetrievalData, options: { detail?: boolean } = {}): RetrievalScores {
  const { dims, captionImage } = data;
  const t2i = rankExact(data.textVectors, data.imageVectors, dims, 10);
  const i2t = rankExact(data.imageVectors, data.textVectors, dims, 10);
  const exactT2i = (c: number, img: number) => captionImage[c] === img;
  // An image without captions stays in the gallery as a distractor for text->image, but cannot be
  // an image->text query: it has no caption to find, and counting it as a miss would punish the model.
  const hasCaption = new Uint8Array(data.imageVectors.length / dims);
  for (const img of captionImage) hasCaption[img] = 1;
  const captioned = Array.from(hasCaption.keys()).filter((img) => hasCaption[img] === 1);
  const captionedI2t = captioned.map((img) => i2t[img] as Int32Array);
  const exactCaptioned = (q: number, c: number) => captionImage[c] === captioned[q];
  const scores: RetrievalScores = {
    t2i: {
      r1: recallAtK(t2i, exactT2i, 1),
      r5: recallAtK(t2i, exactT2i, 5),
      r10: recallAtK(t2i, exactT2i, 10),
    },
    i2t: {
      r1: recallAtK(captionedI2t, exactCaptioned, 1),
      r5: recallAtK(captionedI2t, exactCaptioned, 5),
      r10: recallAtK(captionedI2t, exactCaptioned, 10),
    },
  };
  const { scenes, named } = data;
  if (scenes === undefined || named === undefined) return scores;

  const sat = (img: number, c: number) => satisfies(scenes[img] as Scene, named[c] as NamedAttributes);
  scores.t2i.p10 = precisionAtK(t2i, (c, img) => sat(img, c), 10);
  scores.i2t.p10 = precisionAtK(i2t, (img, c) => sat(img, c), 10);
  if (options.detail === false) return scores;
  scores.t2i.p10Chance = chance(named.length, scenes.length, (c, img) => sat(img, c));
  scores.i2t.p10Chance = chance(scenes.length, named.length, (img, c) => sat(img, c));

  const perAttribute: NonNullable<RetrievalScores['perAttribute']> = {};
  const single = named.map((n, c) => (n.objects.length === 1 ? c : -1)).filter((c) => c >= 0);
  for (const key of ATTRIBUTE_KEYS) {
    const captions = single.filter((c) => (named[c] as NamedAttributes).objects[0]?.[key] !== undefined);
    const only = (c: number) => restrictTo(named[c] as NamedAttributes, key);
    const naming = new Set(captions);
    const isNaming = (c: number) => naming.has(c);
    perAttribute[key] = {
      t2i: precisionAtK(t2i, (c, img) => satisfies(scenes[img] as Scene, only(c)), 10, captions),
      i2t: claimPrecision(
        i2t,
        (c) => isNaming(c),
        (img, c) => satisfies(scenes[img] as Scene, only(c)),
      ),
      captions: captions.length,
      images: scenes.length,
    };
  }
  const pairCaptions = named.map((n, c) => (n.objects.length >= 2 ? c : -1)).filter((c) => c >= 0);
  const pairImages = scenes.map((s, i) => (s.objects.length >= 2 ? i : -1)).filter((i) => i >= 0);
  perAttribute['two objects'] = {
    t2i: precisionAtK(t2i, (c, img) => sat(img, c), 10, pairCaptions),
    i2t: precisionAtK(i2t, (img, c) => sat(img, c), 10, pairImages),
    captions: pairCaptions.length,
    images: pairImages.length,
  };
  scores.perAttribute = perAttribute;
  return scores;
}

/** i2t per attribute type: among retrieved captions that name the type, the share whose claim holds. */
function claimPrecision(
  ranked: readonly Int32Array[],
  names: (c: number) => boolean,
  holds: (img: number, c: number) => boolean,
): number {
  let total = 0;
  let queries = 0;
  ranked.forEach((items, img) => {
    let named = 0;
    let hits = 0;
    for (const c of items) {
      if (!names(c)) continue;
      named++;
      if (holds(img, c)) hits++;
    }
    if (named > 0) {
      total += hits / named;
      queries++;
    }
  });
  return queries === 0 ? 0 : total / queries;
}

/** Expected precision of a random ranking: mean over queries of the share of items that are hits. */
function chance(queries: number, items: number, isHit: (q: number, item: number) => boolean): number {
  if (queries === 0 || items === 0) return 0;
  let total = 0;
  for (let q = 0; q < queries; q++) {
    let hits = 0;
    for (let i = 0; i < items; i++) if (isHit(q, i)) hits++;
    total += hits / items;
  }
  return total / queries;
}
