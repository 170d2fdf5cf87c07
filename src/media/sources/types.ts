/**
 * What every source reader yields: one image with its captions, read lazily. An item that is bad
 * at listing time (a path outside the root, a malformed manifest line) is still yielded; its
 * `read()` rejects with the reason, so the run records it and goes on.
 */
export interface SourceItem {
  /** Stable across runs of the same source: the resume key in the ingest ledger. */
  key: string;
  /** Where the image lives, as stored in Postgres (a `file://` URL for local files). */
  uri: string;
  captions: string[];
  metadata: Record<string, unknown>;
  /** The absolute path of a local image file, when the source knows it (the trainer reads it). */
  file?: string;
  read(): Promise<Buffer>;
}

export type SourceFormat = 'dir' | 'jsonl' | 'coco' | 'flickr30k' | 'karpathy';

export interface Source {
  format: SourceFormat;
  /** Identifies the source in the ingest ledger, e.g. `jsonl:/abs/manifest.jsonl`. */
  id: string;
  /**
   * The directory every image file must stay inside (symlinks resolved), so that a reader other
   * than this one (an indexer worker reading a queued item) enforces the same rule.
   */
  root: string;
  items(): AsyncIterable<SourceItem>;
  /** How many items `items()` will yield (a streaming pass, for progress and ETA). */
  count(): Promise<number>;
}

export interface SourceOptions {
  /** Files larger than this fail without being read into memory. @default 25 MiB */
  maxBytes?: number;
  /**
   * Hears what a reader skipped or merged (a malformed row, a duplicate id) so the caller can log
   * it; a reader never logs by itself. @default nothing is reported
   */
  onWarning?: (message: string) => void;
}
