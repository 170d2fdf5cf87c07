import type { DecodeLimits } from '../media/image-decode.ts';
import type { Source } from '../media/sources/types.ts';
import type { PreprocessSpec } from '../models/types.ts';
import { isFailed, isLive } from './items.ts';
import { Tally, type IngestProgress, type IngestSummary } from './progress.ts';
import { readAndDecode } from './steps.ts';
import { mapConcurrent, take } from './streams.ts';

/**
 * `--dry-run`: reads, hashes and decodes every item exactly as a real run would, and reports what
 * would be indexed, repeated or refused, without touching the database, the encoders or the indexes.
 */
export async function dryRunIngest(
  source: Source,
  deps: { preprocess: PreprocessSpec; limits: DecodeLimits },
  options: {
    concurrency?: number;
    limit?: number;
    onProgress?: (p: IngestProgress) => void;
    signal?: AbortSignal;
  } = {},
): Promise<IngestSummary> {
  const tally = new Tally(source.id, 0, 'dry-run');
  const seen = new Set<string>();
  const items = take(abortable(source.items(), options.signal), options.limit);
  let n = 0;
  for await (const item of mapConcurrent(items, options.concurrency ?? 4, (i) =>
    readAndDecode(i, deps.preprocess, deps.limits),
  )) {
    if (isFailed(item))
      tally.record([{ key: item.key, status: 'failed', error: item.failed, code: item.code }], 0, 0);
    else if (isLive(item) && !seen.has(item.sha256)) {
      seen.add(item.sha256);
      tally.record(
        [{ key: item.key, status: 'indexed', imageId: 0, captionIds: [] }],
        item.captions.length,
        0,
      );
    } else tally.record([{ key: item.key, status: 'duplicate', imageId: 0, captionIds: [] }], 0, 0);
    if (++n % 32 === 0) options.onProgress?.(tally.progress());
  }
  return tally.summary();
}

async function* abortable<T>(items: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  for await (const item of items) {
    if (signal?.aborted) return;
    yield item;
  }
}
