/**
 * All the query text one request asks the server to encode or full-text match, summed over its
 * root fields. Every such text is one budget (MAX_QUERY_TEXT) because the cost is per character
 * wherever the text sits: 400k characters of `filter.captionMatch` kept embedded PGlite (on the
 * main thread) busy for minutes, and 50 aliases of a capped text cost 50 times the cap.
 */
import { Kind, type FieldNode, type ValueNode } from 'graphql';

/** Argument and input-object fields that hold query text. */
const TEXT_KEYS = new Set(['text', 'negativeText', 'keywords', 'captionMatch']);

/** Characters of query text in these fields' arguments, variables resolved. */
export function queryTextLength(fields: readonly FieldNode[], variables: Record<string, unknown>): number {
  let total = 0;
  // Iterative, not recursive: a JSON variable can be nested thousands deep.
  const stack: { key: string; value: ValueNode | unknown; ast: boolean }[] = [];
  for (const field of fields) {
    for (const arg of field.arguments ?? []) stack.push({ key: arg.name.value, value: arg.value, ast: true });
  }
  while (stack.length > 0) {
    const { key, value, ast } = stack.pop()!;
    // Metadata filters are JSON matched by containment, not text: a key named `text` there is data.
    if (key === 'metadata') continue;
    if (ast) {
      const node = value as ValueNode;
      if (node.kind === Kind.STRING) {
        if (TEXT_KEYS.has(key)) total += node.value.length;
      } else if (node.kind === Kind.VARIABLE) {
        stack.push({ key, value: variables[node.name.value], ast: false });
      } else if (node.kind === Kind.OBJECT) {
        for (const f of node.fields) stack.push({ key: f.name.value, value: f.value, ast: true });
      } else if (node.kind === Kind.LIST) {
        for (const v of node.values) stack.push({ key, value: v, ast: true });
      }
    } else if (typeof value === 'string') {
      if (TEXT_KEYS.has(key)) total += value.length;
    } else if (Array.isArray(value)) {
      for (const v of value) stack.push({ key, value: v, ast: false });
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) stack.push({ key: k, value: v, ast: false });
    }
  }
  return total;
}
