/**
 * Last stage: ranked ids -> records, in score order, batched per page: image hits in one query
 * (images with their captions), caption hits in two (captions, then their images). Ids whose rows
 * vanished (deleted meanwhile) are dropped.
 */
import type { CaptionsRepository } from '../store/captions.repository.ts';
import type { ImagesRepository } from '../store/images.repository.ts';
import type { ImageNodeCache } from './hydrate-cache.ts';
import type { CaptionNode, ImageNode } from './types.ts';

export interface HydrateDeps {
  images: ImagesRepository;
  captions: CaptionsRepository;
  /** Image hits already hydrated; absent: every hit is read from the database. */
  imageCache?: ImageNodeCache | undefined;
}

/** One query: the images and their captions. */
export async function hydrateImages(
  ids: readonly number[],
  deps: HydrateDeps,
): Promise<Map<number, ImageNode>> {
  if (!deps.imageCache) {
    const records = await deps.images.getByIdsWithCaptions(ids);
    return new Map(records.map((r) => [r.id, r]));
  }
  const { found, missing, generation } = deps.imageCache.lookup(ids);
  if (missing.length === 0) return found;
  const records = await deps.images.getByIdsWithCaptions(missing);
  deps.imageCache.store(records, generation);
  for (const r of records) found.set(r.id, r);
  return found;
}

export async function hydrateCaptions(
  ids: readonly number[],
  deps: HydrateDeps,
): Promise<Map<number, CaptionNode>> {
  const captions = await deps.captions.getByIds(ids);
  const images = await deps.images.getByIds([...new Set(captions.map((c) => c.imageId))]);
  const imageById = new Map(images.map((i) => [i.id, i]));
  const nodes = new Map<number, CaptionNode>();
  for (const caption of captions) {
    const image = imageById.get(caption.imageId);
    if (image) nodes.set(caption.id, { ...caption, image });
  }
  return nodes;
}
