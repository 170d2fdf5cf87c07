/**
 * Groups the rows of a file that name the same image into one, streaming. Row files (JSONL,
 * Flickr30k) may list an image's captions anywhere, not only on consecutive lines; grouping them
 * matters because two gallery entries for one image make each other's captions wrong answers.
 *
 * Two passes: the first counts the rows per key, the second emits a group as soon as its last row
 * has been read. Memory follows the number of distinct keys plus the groups still open, never
 * the captions of the whole file.
 */
export async function* groupRows<R>(
  /** Called once per pass; `counting` is true for the first, so a reader reports problems once. */
  rows: (counting: boolean) => AsyncIterable<R>,
  keyOf: (row: R) => string,
): AsyncGenerator<R[]> {
  const remaining = new Map<string, number>();
  for await (const row of rows(true)) {
    const key = keyOf(row);
    remaining.set(key, (remaining.get(key) ?? 0) + 1);
  }
  const open = new Map<string, R[]>();
  for await (const row of rows(false)) {
    const key = keyOf(row);
    const left = remaining.get(key);
    // The file changed between the passes: a key the first pass never saw stands alone.
    if (left === undefined) {
      yield [row];
      continue;
    }
    const group = open.get(key) ?? [];
    group.push(row);
    if (left <= 1) {
      open.delete(key);
      remaining.delete(key);
      yield group;
    } else {
      open.set(key, group);
      remaining.set(key, left - 1);
    }
  }
  // Rows the second pass no longer found (the file shrank): emit what was read.
  for (const group of open.values()) yield group;
}
