/**
 * One error type for everything the engine expects to go wrong. `code` is stable: it is what
 * GraphQL clients see in `extensions.code` and what CLIs print, so never rename one.
 */
export const ERROR_CODES = [
  'BAD_CONFIG',
  'DB_UNAVAILABLE',
  'MIGRATION_CONFLICT',
  'INVALID_IMAGE',
  'INVALID_INPUT',
  'MODEL_MISSING',
  'MODEL_INVALID',
  'MODEL_MISMATCH',
  'DEVICE_UNAVAILABLE',
  'NOT_FOUND',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'LIMIT_EXCEEDED',
  'SOURCE_INVALID',
  'INDEX_CORRUPT',
  'TIMEOUT',
  'NETWORK',
  // No longer raised (the per-index writer lock became DATA_DIR_LOCKED); codes are never reused.
  'INDEX_LOCKED',
  // Model downloads from the Hugging Face hub (offline is NETWORK):
  'HUB_UNAUTHORIZED',
  'HUB_NOT_FOUND',
  'DOWNLOAD_STALLED',
  'DOWNLOAD_CORRUPT',
  // The DATA_DIR lock, the database's advisory lock and an unfinished reindex:
  'DATA_DIR_LOCKED',
  'DATABASE_BUSY',
  'REINDEX_INCOMPLETE',
  // Training produced (or was fed) a non-finite number: a loss, a feature or a weight.
  'TRAINING_DIVERGED',
  // VECTOR_BACKEND=pgvector on a database without pgvector >= 0.8 (the message names the fix).
  'VECTOR_BACKEND_UNAVAILABLE',
  // A request the client abandoned (connection closed) before it finished; nothing was committed.
  'CANCELLED',
  // Idempotency-Key: reused with another request, its first request is still running, or that
  // request committed but its process died before storing the answer.
  'IDEMPOTENCY_KEY_REUSED',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENCY_ANSWER_LOST',
  // The machine, not the program (src/os-errors.ts): a full disk, an unwritable or misplaced path,
  // an address the server cannot listen on.
  'DISK_FULL',
  'PATH_UNUSABLE',
  'ADDRESS_UNAVAILABLE',
  // The database's schema is older than this code and this command does not migrate (npm run migrate does).
  'MIGRATION_REQUIRED',
  // Not raised as an AppError: the code an unexpected error (a bug) is grouped and reported under,
  // e.g. a failed item of an ingest run. GraphQL answers such errors as INTERNAL_SERVER_ERROR.
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

/** An internal bug, not bad input: fails loudly with a message that says which assumption broke. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Invariant violated: ${message}`);
}

/** A short, single-line description of any thrown value, for logs and stored failure reasons. */
export function describeError(error: unknown): string {
  if (error instanceof AppError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
