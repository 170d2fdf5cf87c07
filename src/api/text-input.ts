/**
 * Checks on client text and JSON that PostgreSQL would otherwise reject deep inside a write (as an
 * internal error, after the upload was already saved): text and jsonb cannot hold NUL (U+0000), and
 * JSON nested thousands deep overflows the stack of every recursive walk (JSON.stringify included).
 */
import { AppError } from '../errors.ts';

/** Deeper than any real metadata; far below what overflows a recursive walk. */
export const MAX_JSON_DEPTH = 64;

/** Captions one mutation may add (`addImage` and `addCaptions` alike). */
export const MAX_CAPTIONS_PER_MUTATION = 100;

/**
 * The one caption rule of every mutation: trimmed, none blank, none with NUL, each at most
 * `maxLength` characters, at most MAX_CAPTIONS_PER_MUTATION of them, and at least `min`.
 */
export function checkCaptions(
  captions: readonly string[],
  options: { min: number; maxLength: number },
): string[] {
  if (captions.length > MAX_CAPTIONS_PER_MUTATION) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `captions holds ${captions.length} texts; the limit is ${MAX_CAPTIONS_PER_MUTATION} per request`,
    );
  }
  if (captions.length < options.min) {
    throw new AppError('INVALID_INPUT', `captions must hold at least ${options.min} text`);
  }
  return captions.map((raw, i) => {
    const text = raw.trim();
    if (text === '') throw new AppError('INVALID_INPUT', `captions[${i}] is blank; every caption needs text`);
    checkNoNul(text, `captions[${i}]`);
    if (text.length > options.maxLength) {
      throw new AppError('LIMIT_EXCEEDED', `captions[${i}] is longer than ${options.maxLength} characters`);
    }
    return text;
  });
}

export function checkNoNul(text: string, field: string): void {
  if (text.includes('\u0000')) {
    throw new AppError('INVALID_INPUT', `${field} must not contain NUL (U+0000) characters`);
  }
}

/** Walks a JSON value without recursion (so the check itself cannot overflow). */
export function checkJsonValue(value: unknown, field: string, maxDepth = MAX_JSON_DEPTH): void {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (typeof v === 'string') checkNoNul(v, `${field} (a string in it)`);
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= maxDepth) {
      throw new AppError('LIMIT_EXCEEDED', `${field} is nested deeper than ${maxDepth} levels`);
    }
    if (Array.isArray(v)) {
      for (const item of v) stack.push({ value: item, depth: depth + 1 });
    } else {
      for (const [key, item] of Object.entries(v)) {
        checkNoNul(key, `${field} (a key in it)`);
        stack.push({ value: item, depth: depth + 1 });
      }
    }
  }
}
