import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Streams a text file line by line (1-based numbers): a million-line file never sits in memory. */
export async function* readLines(file: string): AsyncGenerator<{ line: string; number: number }> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const reader = createInterface({ input: stream, crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const line of reader) {
      number++;
      // Editors on Windows save UTF-8 with a byte-order mark; it is not part of the first field.
      yield { line: number === 1 && line.startsWith('\uFEFF') ? line.slice(1) : line, number };
    }
  } finally {
    reader.close();
    stream.destroy();
  }
}
