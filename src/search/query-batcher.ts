/**
 * Dynamic batching of query encodes. A query encodes one text or one image; at real model sizes
 * one ORT run of a single row keeps the matrix units starved (a [10, 768] x [768, 768] product),
 * while concurrent queries waiting for the same encoder could share one run. The first query of a
 * batch waits at most `windowMs` for company (or until `maxBatch` queries wait); while a run is in
 * flight, newcomers gather for the next one, so under load batches grow with the load and at one
 * client a query pays at most the window.
 */
import { invariant } from '../errors.ts';
import type { PixelTensor } from '../models/types.ts';
import type { QueryEmbedder } from './types.ts';

/** How queries share encoder runs. */
export interface QueryBatchOptions {
  /** How long the first query of a batch waits for others, in ms; 0 turns batching off. @default 2 */
  windowMs: number;
  /** A batch this large runs without waiting further. @default 32 */
  maxBatch: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects single items into batches for `run`, which must return one result per item, in order.
 * One run at a time: two runs on the same cores only slow each other down.
 */
export class MicroBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<O[]>,
    private readonly options: QueryBatchOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running) return; // the run in flight flushes when it ends
      if (this.queue.length >= this.options.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.windowMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.running = true;
    void this.settle(batch).finally(() => {
      this.running = false;
      // Whoever arrived during the run has waited at least that long: go at once.
      if (this.queue.length > 0) this.flush();
    });
  }

  private async settle(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((w) => w.item));
      invariant(results.length === batch.length, `a batch of ${batch.length} got ${results.length} results`);
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad input must not fail the others: find it by running each alone.
      for (const w of batch) {
        try {
          const [result] = await this.run([w.item]);
          w.resolve(result!);
        } catch (own) {
          w.reject(own);
        }
      }
    }
  }
}

/** The text and image encoders of a query embedder, each behind its own batcher. */
export class QueryBatcher {
  private readonly texts: MicroBatcher<string, Float32Array>;
  private readonly images: MicroBatcher<PixelTensor, Float32Array>;

  constructor(
    embedder: QueryEmbedder,
    options: QueryBatchOptions,
    onEncode?: (kind: 'text' | 'image', batchSize: number) => void,
  ) {
    this.texts = new MicroBatcher(async (texts) => {
      onEncode?.('text', texts.length);
      return (await embedder.embedTexts(texts)).vectors;
    }, options);
    this.images = new MicroBatcher((pixels) => {
      onEncode?.('image', pixels.length);
      return embedder.embedPixels(pixels);
    }, options);
  }

  text(text: string): Promise<Float32Array> {
    return this.texts.submit(text);
  }

  image(pixels: PixelTensor): Promise<Float32Array> {
    return this.images.submit(pixels);
  }
}
