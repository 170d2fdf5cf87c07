export type { Source, SourceFormat, SourceItem, SourceOptions } from './types.ts';
export { openSource, type OpenSourceOptions } from './open-source.ts';
export { directorySource, IMAGE_EXTENSIONS } from './directory-source.ts';
export { jsonlSource, type JsonlOptions } from './jsonl-source.ts';
export { cocoSource, type CocoOptions } from './coco-source.ts';
export { flickrSource, type FlickrOptions } from './flickr-source.ts';
export {
  karpathySource,
  KARPATHY_SPLITS,
  type KarpathyOptions,
  type KarpathySplit,
} from './karpathy-source.ts';
export { fileUri } from './safe-path.ts';
