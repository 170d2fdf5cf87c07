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

export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
  /** What a list field without `first` counts as. @default 1 */
  defaultFirst?: number;
}

interface Walk {
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  defaultFirst: number;
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

/** [depth, complexity] of a selection set. */
function measure(set: SelectionSetNode, walk: Walk, seen: Set<string>): [number, number] {
  let depth = 0;
  let cost = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__')) continue;
      const first = firstArg(
        selection.arguments?.find((a) => a.name.value === 'first')?.value,
        walk.variables,
      );
      const [d, c] = selection.selectionSet ? measure(selection.selectionSet, walk, seen) : [0, 0];
      depth = Math.max(depth, d + 1);
      cost += 1 + c * Math.max(1, first ?? (selection.selectionSet ? 1 : 0));
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const [d, c] = measure(selection.selectionSet, walk, seen);
      depth = Math.max(depth, d);
      cost += c;
    } else {
      const name = selection.name.value;
      const fragment = walk.fragments[name];
      if (!fragment || seen.has(name)) continue;
      const [d, c] = measure(fragment.selectionSet, walk, new Set([...seen, name]));
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
  const [depth, complexity] = measure(
    operation.selectionSet,
    { fragments, variables, defaultFirst },
    new Set(),
  );
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
          const fragments: Record<string, FragmentDefinitionNode> = {};
          for (const def of document.definitions) {
            if (def.kind === Kind.FRAGMENT_DEFINITION) fragments[def.name.value] = def;
          }
          const { depth, complexity } = measureOperation(
            operation,
            fragments,
            request.variables ?? {},
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
