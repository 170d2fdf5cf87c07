/**
 * A per-request batching loader: every key asked for in the same turn of the event loop is
 * fetched in one call (one SQL query for all the captions a page of results needs).
 */
export function batchLoader<K, V>(
  load: (keys: K[]) => Promise<Map<K, V>>,
  missing: () => V,
): (key: K) => Promise<V> {
  let pending: Map<K, ((value: V | Error) => void)[]> | undefined;
  const cache = new Map<K, Promise<V>>();

  async function flush(batch: Map<K, ((value: V | Error) => void)[]>): Promise<void> {
    let result: Map<K, V> | Error;
    try {
      result = await load([...batch.keys()]);
    } catch (error) {
      result = error instanceof Error ? error : new Error(String(error));
    }
    for (const [key, callbacks] of batch) {
      const value = result instanceof Error ? result : (result.get(key) ?? missing());
      for (const callback of callbacks) callback(value);
    }
  }

  return (key) => {
    const hit = cache.get(key);
    if (hit) return hit;
    const promise = new Promise<V>((resolve, reject) => {
      if (!pending) {
        const batch = new Map<K, ((value: V | Error) => void)[]>();
        pending = batch;
        setImmediate(() => {
          pending = undefined;
          void flush(batch);
        });
      }
      const callbacks = pending.get(key) ?? [];
      callbacks.push((value) => (value instanceof Error ? reject(value) : resolve(value)));
      pending.set(key, callbacks);
    });
    cache.set(key, promise);
    return promise;
  };
}
