/**
 * Depth and complexity limits, checked once the operation and its variables are known (so a
 * `first: $n` counts as what $n is). Introspection fields (`__schema`, `__type`) are not counted:
 * the playground's introspection query is deep by nature and cheap.
 */
import {
  GraphQLError,
  Kind,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import { fragmentsOf, rootFields } from './operation-fields.ts';
import { queryTextLength } from './query-text.ts';

export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
  /** Characters of query text (texts, keywords, caption matches) in one request, all summed. */
  maxQueryText: number;
  /** What a list field without `first` counts as. @default 1 */
  defaultFirst?: number;
}

interface Walk {
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  defaultFirst: number;
  /**
   * [depth, complexity] per fragment, measured once: a fragment costs the same wherever it is
   * spread, and walking it again at every spread is exponential in nesting (25 fragments each
   * spreading the next twice took 27 s of blocked event loop).
   */
  measured: Map<string, [number, number]>;
  /** Fragments being measured now: a spread of one of these is a cycle. */
  open: Set<string>;
}

function firstArg(value: ValueNode | undefined, variables: Record<string, unknown>): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const v = variables[value.name.value];
    return typeof v === 'number' ? v : undefined;
  }
  return undefined;
}

function measureFragment(name: string, walk: Walk): [number, number] {
  const known = walk.measured.get(name);
  if (known) return known;
  const fragment = walk.fragments[name];
  if (!fragment) return [0, 0];
  // Validation (NoFragmentCyclesRule) refuses cycles before we run; this guards direct callers.
  if (walk.open.has(name)) throw limitError(`Fragment ${name} spreads itself`);
  walk.open.add(name);
  const result = measure(fragment.selectionSet, walk);
  walk.open.delete(name);
  walk.measured.set(name, result);
  return result;
}

/** [depth, complexity] of a selection set. */
function measure(set: SelectionSetNode, walk: Walk): [number, number] {
  let depth = 0;
  let cost = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__')) continue;
      const first = firstArg(
        selection.arguments?.find((a) => a.name.value === 'first')?.value,
        walk.variables,
      );
      const [d, c] = selection.selectionSet ? measure(selection.selectionSet, walk) : [0, 0];
      depth = Math.max(depth, d + 1);
      cost += 1 + c * Math.max(1, first ?? (selection.selectionSet ? 1 : 0));
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const [d, c] = measure(selection.selectionSet, walk);
      depth = Math.max(depth, d);
      cost += c;
    } else {
      const [d, c] = measureFragment(selection.name.value, walk);
      depth = Math.max(depth, d);
      cost += c;
    }
  }
  return [depth, cost];
}

export function measureOperation(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  defaultFirst = 1,
): { depth: number; complexity: number } {
  const [depth, complexity] = measure(operation.selectionSet, {
    fragments,
    variables,
    defaultFirst,
    measured: new Map(),
    open: new Set(),
  });
  return { depth, complexity };
}

function limitError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'LIMIT_EXCEEDED', http: { status: 400 } } });
}

export function queryLimitsPlugin<C extends object>(limits: QueryLimits): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (!operation) return;
          const fragments = fragmentsOf(document.definitions);
          const variables = request.variables ?? {};
          const text = queryTextLength(rootFields(operation, fragments), variables);
          if (text > limits.maxQueryText) {
            throw limitError(
              `The query text of this request totals ${text} characters, over the limit of ${limits.maxQueryText}`,
            );
          }
          const { depth, complexity } = measureOperation(
            operation,
            fragments,
            variables,
            limits.defaultFirst,
          );
          if (depth > limits.maxDepth) {
            throw limitError(`Query depth ${depth} exceeds the limit of ${limits.maxDepth}`);
          }
          if (complexity > limits.maxComplexity) {
            throw limitError(`Query complexity ${complexity} exceeds the limit of ${limits.maxComplexity}`);
          }
        },
      };
    },
  };
}
