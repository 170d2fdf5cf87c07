/** The two custom scalars: JSON (metadata, passed through) and DateTime (ISO-8601). */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { AppError } from '../errors.ts';
import { checkJsonValue } from './text-input.ts';

function literalToJson(node: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    default:
      throw new GraphQLError(`Unsupported JSON literal ${node.kind}`);
  }
}

export const JsonScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (value) => value,
  parseValue: (value) => {
    checkJsonValue(value, 'A JSON input');
    return value;
  },
  parseLiteral: (node, variables) => {
    const value = literalToJson(node, variables);
    checkJsonValue(value, 'A JSON input');
    return value;
  },
});

/**
 * ISO-8601 date-time (or a bare date), four-digit year. `new Date()` alone accepted "12" and
 * "Jan 1 2020" and rolled 2026-02-30 into March; five-digit years passed JavaScript but are
 * outside PostgreSQL's timestamp range and failed in the database as an internal error.
 */
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

function invalidDate(text: string): AppError {
  return new AppError(
    'INVALID_INPUT',
    `DateTime must be an ISO-8601 timestamp such as 2024-05-01T12:00:00Z, got "${text.slice(0, 40)}"`,
  );
}

function parseIsoDate(text: string): Date {
  const m = ISO_8601.exec(text);
  if (!m) throw invalidDate(text);
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((v) => Number(v ?? 0));
  // Overflowing fields roll forward; a real calendar date survives the round trip. (setUTCFullYear,
  // not Date.UTC, which reads years 0..99 as 1900..1999.)
  const check = new Date(0);
  check.setUTCFullYear(year!, month! - 1, day!);
  const realDay =
    check.getUTCFullYear() === year && check.getUTCMonth() === month! - 1 && check.getUTCDate() === day;
  if (year! < 1 || !realDay || hour > 23 || minute > 59 || second > 59) throw invalidDate(text);
  // A date without a zone is UTC (JavaScript would read a date-time without one as local time).
  const date = new Date(m[4] !== undefined && m[7] === undefined ? `${text}Z` : text);
  if (Number.isNaN(date.getTime())) throw invalidDate(text);
  return date;
}

/** Output side: whatever the database driver handed back (a Date, or its text form). */
function toDate(value: unknown): Date {
  const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : value;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new GraphQLError('DateTime must be an ISO-8601 timestamp');
  }
  return date;
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => toDate(value).toISOString(),
  parseValue: (value) => {
    if (typeof value !== 'string') throw new GraphQLError('DateTime must be a string');
    return parseIsoDate(value);
  },
  parseLiteral: (node) => {
    if (node.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return parseIsoDate(node.value);
  },
});
