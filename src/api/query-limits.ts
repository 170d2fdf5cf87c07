/**
 * Per-request limits, checked once the operation and its variables are known (so a `first: $n`
 * counts as what $n is): root fields, query text, depth and complexity.
 */
import {
  GraphQLError,
  Kind,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
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
  /** Root fields (aliases included) in one operation: each is a search or a load of its own. */
  maxRootFields: number;
}

interface Walk {
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  schema: GraphQLSchema | undefined;
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

/** The `first` a list field defaults to in the schema (10 for searches, 20 for `images`). */
function defaultFirst(field: GraphQLField<unknown, unknown> | undefined): number | undefined {
  const value = field?.args.find((a) => a.name === 'first')?.defaultValue;
  return typeof value === 'number' ? value : undefined;
}

/*
 * Duck-typed, not graphql's `isObjectType`/`getNamedType`: those check `instanceof`, and Apollo's
 * schema comes from graphql's CommonJS build while this module gets the ESM one (a dual-package
 * hazard: "Cannot use GraphQLObjectType from another module or realm").
 */
function fieldOf(
  parent: GraphQLNamedType | undefined,
  name: string,
): GraphQLField<unknown, unknown> | undefined {
  if (!parent || !('getFields' in parent) || 'getValues' in parent) return undefined;
  return (parent.getFields() as Record<string, GraphQLField<unknown, unknown>>)[name];
}

function namedType(type: GraphQLOutputType): GraphQLNamedType {
  let t: GraphQLOutputType = type;
  while ('ofType' in t) t = t.ofType;
  return t;
}

function typeNamed(walk: Walk, name: string | undefined, fallback: GraphQLNamedType | undefined) {
  return name === undefined ? fallback : walk.schema?.getType(name);
}

const schemaSizes = new WeakMap<GraphQLSchema, number>();

/**
 * Types, fields, arguments and enum values in the schema: what one `__schema` answer lists. Its
 * lists (`types`, `fields`) have no `first`, so the walk alone would count each as one item.
 */
function schemaSize(schema: GraphQLSchema): number {
  let size = schemaSizes.get(schema);
  if (size !== undefined) return size;
  size = 0;
  for (const type of Object.values(schema.getTypeMap())) {
    size += 1;
    if ('getFields' in type) {
      for (const field of Object.values(type.getFields()))
        size += 1 + ('args' in field ? field.args.length : 0);
    } else if ('getValues' in type) size += type.getValues().length;
  }
  schemaSizes.set(schema, size);
  return size;
}

function measureFragment(name: string, walk: Walk): [number, number] {
  const known = walk.measured.get(name);
  if (known) return known;
  const fragment = walk.fragments[name];
  if (!fragment) return [0, 0];
  // Validation (NoFragmentCyclesRule) refuses cycles before we run; this guards direct callers.
  if (walk.open.has(name)) throw limitError(`Fragment ${name} spreads itself`);
  walk.open.add(name);
  const type = typeNamed(walk, fragment.typeCondition.name.value, undefined);
  const result = measure(fragment.selectionSet, type, walk);
  walk.open.delete(name);
  walk.measured.set(name, result);
  return result;
}

/**
 * [depth, complexity] of a selection set on `parent` (undefined without a schema). A field costs
 * 1 plus its selection times its `first` (as given, else the schema's default, else 1).
 * Introspection costs like any field, `__schema` also the size of the schema it lists (1,500
 * aliased `__schema` selections made a 47.5 MB answer), but adds no depth: the playground's
 * introspection query is deep by nature.
 */
function measure(set: SelectionSetNode, parent: GraphQLNamedType | undefined, walk: Walk): [number, number] {
  let depth = 0;
  let cost = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      const field = fieldOf(parent, name);
      const first =
        firstArg(selection.arguments?.find((a) => a.name.value === 'first')?.value, walk.variables) ??
        defaultFirst(field);
      const child = field && namedType(field.type);
      const [d, c] = selection.selectionSet ? measure(selection.selectionSet, child, walk) : [0, 0];
      if (!name.startsWith('__')) depth = Math.max(depth, d + 1);
      cost += 1 + c * Math.max(1, first ?? 1);
      if (name === '__schema' && walk.schema) cost += schemaSize(walk.schema);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const type = typeNamed(walk, selection.typeCondition?.name.value, parent);
      const [d, c] = measure(selection.selectionSet, type, walk);
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

/** Depth and complexity of an operation; pass the schema to count `first` defaults. */
export function measureOperation(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  schema?: GraphQLSchema,
): { depth: number; complexity: number } {
  const root = schema?.getRootType(operation.operation) ?? undefined;
  const [depth, complexity] = measure(operation.selectionSet, root, {
    fragments,
    variables,
    schema,
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
        async didResolveOperation({ operation, document, request, schema }) {
          if (!operation) return;
          const fragments = fragmentsOf(document.definitions);
          const variables = request.variables ?? {};
          const roots = rootFields(operation, fragments);
          if (roots.length > limits.maxRootFields) {
            throw limitError(
              `The operation selects ${roots.length} root fields, over the limit of ${limits.maxRootFields}`,
            );
          }
          const text = queryTextLength(roots, variables);
          if (text > limits.maxQueryText) {
            throw limitError(
              `The query text of this request totals ${text} characters, over the limit of ${limits.maxQueryText}`,
            );
          }
          const { depth, complexity } = measureOperation(operation, fragments, variables, schema);
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
