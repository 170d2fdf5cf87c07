/** GraphQL inputs -> engine inputs, with the checks the schema cannot express. */
import { AppError } from '../errors.ts';
import type { SearchOptions } from '../search/engine.ts';
import type { ComposedQuerySpec, ImageFilter, ImageQueryInput } from '../search/types.ts';
import type {
  ComposedQuery,
  ImageFilter as GqlImageFilter,
  ImageInput,
  InputMaybe,
  SearchOptions as GqlSearchOptions,
} from './generated/resolvers.ts';

export function parseId(raw: string | number, field = 'id'): number {
  const text = String(raw);
  if (/^[1-9]\d{0,39}$/.test(text) && !Number.isSafeInteger(Number(text))) {
    throw new AppError(
      'INVALID_INPUT',
      `${field} ${text} is out of range: ids go up to ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  if (!/^[1-9]\d{0,15}$/.test(text)) {
    throw new AppError('INVALID_INPUT', `${field} must be a positive integer id, got "${text.slice(0, 40)}"`);
  }
  return Number(text);
}

export function toImageInput(input: ImageInput): ImageQueryInput {
  const out: ImageQueryInput = {};
  if (input.id !== undefined && input.id !== null) out.id = parseId(input.id, 'image.id');
  if (input.base64 !== undefined && input.base64 !== null) out.base64 = input.base64;
  if (input.url !== undefined && input.url !== null) out.url = input.url;
  if (input.path !== undefined && input.path !== null) out.path = input.path;
  if (input.token !== undefined && input.token !== null) out.token = input.token;
  return out;
}

export function toFilter(filter: InputMaybe<GqlImageFilter> | undefined): ImageFilter | undefined {
  if (!filter) return undefined;
  const out: ImageFilter = {};
  if (filter.metadata !== undefined && filter.metadata !== null) {
    if (typeof filter.metadata !== 'object' || Array.isArray(filter.metadata)) {
      throw new AppError('INVALID_INPUT', 'filter.metadata must be a JSON object');
    }
    out.metadata = filter.metadata as Record<string, unknown>;
  }
  if (filter.formats) out.formats = filter.formats.map((f) => f.toLowerCase());
  for (const key of ['minWidth', 'maxWidth', 'minHeight', 'maxHeight', 'minBytes', 'maxBytes'] as const) {
    const value = filter[key];
    if (value !== undefined && value !== null) {
      if (value < 0) throw new AppError('INVALID_INPUT', `filter.${key} must not be negative`);
      out[key] = value;
    }
  }
  if (filter.createdAfter) out.createdAfter = filter.createdAfter;
  if (filter.createdBefore) out.createdBefore = filter.createdBefore;
  if (filter.captionMatch !== undefined && filter.captionMatch !== null)
    out.captionMatch = filter.captionMatch;
  return out;
}

export function toQuery(query: ComposedQuery): ComposedQuerySpec {
  const out: ComposedQuerySpec = {};
  if (query.text !== undefined && query.text !== null) out.text = query.text;
  if (query.textWeight !== undefined && query.textWeight !== null) out.textWeight = query.textWeight;
  if (query.image) out.image = toImageInput(query.image);
  if (query.imageWeight !== undefined && query.imageWeight !== null) out.imageWeight = query.imageWeight;
  if (query.negativeText !== undefined && query.negativeText !== null) out.negativeText = query.negativeText;
  if (query.negativeWeight !== undefined && query.negativeWeight !== null)
    out.negativeWeight = query.negativeWeight;
  return out;
}

export function toSearchOptions(
  args: {
    first: number;
    after?: InputMaybe<string>;
    filter?: InputMaybe<GqlImageFilter>;
    minScore?: InputMaybe<number>;
    options?: InputMaybe<GqlSearchOptions>;
  },
  signal?: AbortSignal,
): SearchOptions {
  const o = args.options;
  return {
    ...(signal ? { signal } : {}),
    first: args.first,
    after: args.after ?? null,
    filter: toFilter(args.filter) ?? null,
    minScore: args.minScore ?? null,
    hybrid: o?.hybrid
      ? {
          ...(o.hybrid.keywords ? { keywords: o.hybrid.keywords } : {}),
          keywordWeight: o.hybrid.keywordWeight ?? 1,
        }
      : null,
    collapseThreshold: o?.collapseDuplicates ? (o.duplicateThreshold ?? 0.97) : null,
  };
}
