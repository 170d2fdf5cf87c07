import { AppError } from '../errors.ts';
import type { PreprocessSpec } from './types.ts';

type Size = number | { shortest_edge?: number; height?: number; width?: number } | undefined;

/**
 * Reads a Hugging Face `preprocessor_config.json` (CLIP, ConvNext/ResNet and ViT styles) into a
 * PreprocessSpec. ConvNext's `crop_pct` means "resize to size/crop_pct, crop size", as the
 * Python processor does below 384 px.
 */
export function parsePreprocessorConfig(raw: Record<string, unknown>, where: string): PreprocessSpec {
  const size = raw.size as Size;
  const crop = raw.crop_size as Size;
  const edgeOf = (s: Size): number | undefined =>
    typeof s === 'number'
      ? s
      : (s?.shortest_edge ??
        (s?.height !== undefined && s.width !== undefined ? Math.min(s.height, s.width) : undefined));
  const hwOf = (s: Size): [number, number] | undefined =>
    typeof s === 'number'
      ? [s, s]
      : s?.height !== undefined && s.width !== undefined
        ? [s.height, s.width]
        : undefined;

  let shortestEdge = edgeOf(size);
  let cropHW = raw.do_center_crop === false ? undefined : hwOf(crop);
  const cropPct = typeof raw.crop_pct === 'number' ? raw.crop_pct : undefined;
  if (shortestEdge !== undefined && cropPct !== undefined && cropHW === undefined && shortestEdge < 384) {
    cropHW = [shortestEdge, shortestEdge];
    shortestEdge = Math.floor(shortestEdge / cropPct);
  }
  cropHW ??= hwOf(size) ?? (shortestEdge !== undefined ? [shortestEdge, shortestEdge] : undefined);
  const mean = triple(raw.image_mean);
  const std = triple(raw.image_std);
  if (shortestEdge === undefined || cropHW === undefined || mean === undefined || std === undefined) {
    throw new AppError(
      'MODEL_INVALID',
      `${where}: preprocessor_config.json needs size, image_mean and image_std (got ${JSON.stringify({ size, crop_size: crop, image_mean: raw.image_mean, image_std: raw.image_std })})`,
    );
  }
  const normalize = raw.do_normalize !== false;
  return {
    shortestEdge,
    cropHeight: cropHW[0],
    cropWidth: cropHW[1],
    mean: normalize ? mean : [0, 0, 0],
    std: normalize ? std : [1, 1, 1],
    rescaleFactor:
      raw.do_rescale === false ? 1 : typeof raw.rescale_factor === 'number' ? raw.rescale_factor : 1 / 255,
  };
}

function triple(value: unknown): [number, number, number] | undefined {
  if (Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number')) {
    return [value[0] as number, value[1] as number, value[2] as number];
  }
  if (typeof value === 'number') return [value, value, value];
  return undefined;
}
