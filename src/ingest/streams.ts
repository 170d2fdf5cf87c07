/**
 * Bounded async-iterable plumbing between pipeline stages. Everything is pull-based with a fixed
 * window, so however large the source, at most a few batches of items are in memory at once.
 */

/**
 * Applies `fn` to each input with at most `concurrency` calls in flight, yielding results in
 * input order. Work on later items continues while the consumer handles earlier ones.
 */
export async function* mapConcurrent<A, B>(
  source: AsyncIterable<A>,
  concurrency: number,
  fn: (value: A) => Promise<B>,
): AsyncGenerator<B> {
  const iterator = source[Symbol.asyncIterator]();
  const inFlight: Promise<B>[] = [];
  let done = false;
  try {
    for (;;) {
      while (!done && inFlight.length < concurrency) {
        const next = await iterator.next();
        if (next.done) done = true;
        else {
          const task = fn(next.value);
          // A rejection is handled when the task reaches the head; this stops an "unhandled" report meanwhile.
          task.catch(() => undefined);
          inFlight.push(task);
        }
      }
      const head = inFlight.shift();
      if (head === undefined) return;
      yield await head;
    }
  } finally {
    // Stopped early (a signal, an error downstream): let the calls in flight finish before the
    // caller closes what they use (the database, the encoders); their results are dropped.
    await Promise.allSettled(inFlight);
    if (!done) await iterator.return?.();
  }
}

/** Groups items into arrays of `size` (the last may be shorter). */
export async function* batches<A>(source: AsyncIterable<A>, size: number): AsyncGenerator<A[]> {
  let batch: A[] = [];
  for await (const value of source) {
    batch.push(value);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Stops after `limit` items (no limit when undefined). */
export async function* take<A>(source: AsyncIterable<A>, limit: number | undefined): AsyncGenerator<A> {
  if (limit !== undefined && limit <= 0) return;
  let n = 0;
  for await (const value of source) {
    yield value;
    if (limit !== undefined && ++n >= limit) return;
  }
}

/**
 * A queue of at most `depth` items between two stages: the producer runs ahead of the consumer by
 * that much (so the encoder works on batch n+1 while batch n is being stored) and then waits.
 */
export async function* prefetch<A>(source: AsyncIterable<A>, depth: number): AsyncGenerator<A> {
  const iterator = source[Symbol.asyncIterator]();
  const queue: Promise<IteratorResult<A>>[] = [];
  let finished = false;
  const fill = () => {
    while (!finished && queue.length < depth + 1) {
      const next = iterator.next();
      next.then(
        (r) => {
          if (r.done) finished = true;
        },
        () => {
          finished = true;
        },
      );
      queue.push(next);
      // Async generators queue next() calls internally, so requests never overlap inside `source`.
    }
  };
  try {
    for (;;) {
      fill();
      const head = queue.shift();
      if (head === undefined) return;
      const result = await head;
      if (result.done) return;
      yield result.value;
    }
  } finally {
    if (!finished) {
      await Promise.allSettled(queue);
      await iterator.return?.();
    }
  }
}
