import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.ts';

/**
 * The only reader of `process.env` (and of CLI flags, which scripts pass in as `overrides`).
 * Every setting is validated at once; a bad start-up reports all problems in one message.
 */

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

// Decimal digits only: z.coerce.number() read PORT=" " as 0 (a random port) and PORT=0x10 as 16.
const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/** Filters allowing at most this many items are searched exactly (EXACT_SEARCH_THRESHOLD). */
export const DEFAULT_EXACT_SEARCH_THRESHOLD = 2000;
const EnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .refine((v) => v === '' || /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  MODELS: z.enum(['tiny', 'tiny-base', 'bert-resnet', 'bert-vgg', 'clip']).default('tiny'),
  DEVICE: z.enum(['auto', 'cpu', 'cuda', 'webgpu']).default('auto'),
  TEXT_POOLING: z.enum(['mean', 'cls']).default('mean'),
  ORT_INTRA_THREADS: int(0, 256).default(0),
  ORT_INTER_THREADS: int(0, 256).default(0),
  PORT: int(0, 65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  // Counted without surrounding blanks: a key of 8 spaces guards nothing.
  API_KEY: z
    .string()
    .refine((v) => v.trim().length >= 8, 'must be at least 8 characters, not counting surrounding blanks')
    .optional(),
  ALLOW_UNAUTHENTICATED_MUTATIONS: bool.default(false),
  // Production-like unless asked: a plain `npm start` must not answer with stack traces and server
  // paths. Only `development` (the demo sets it) shows error internals.
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_IMAGE_BYTES: int(1024, 1 << 30).default(25 * 1024 * 1024),
  MAX_IMAGE_PIXELS: int(1024, 1 << 30).default(50_000_000),
  MAX_QUERY_TEXT: int(1, 100_000).default(1000),
  MAX_FIRST: int(1, 1000).default(100),
  // Unset: derived from MAX_IMAGE_BYTES (bodyBytesFor), so the largest allowed image fits a request.
  MAX_BODY_BYTES: int(1024, 1 << 30).optional(),
  MAX_QUERY_DEPTH: int(1, 100).default(8),
  MAX_QUERY_COMPLEXITY: int(1, 1_000_000).default(5000),
  MAX_ROOT_FIELDS: int(1, 1000).default(20),
  REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  IDEMPOTENCY_RETENTION_HOURS: int(1, 24 * 365).default(24),
  SHUTDOWN_GRACE_MS: int(100, 600_000).default(10_000),
  HNSW_M: int(4, 128).default(16),
  HNSW_EF_CONSTRUCTION: int(8, 2000).default(200),
  HNSW_EF: int(1, 5000).default(64),
  EXACT_SEARCH_THRESHOLD: int(0, 100_000).default(DEFAULT_EXACT_SEARCH_THRESHOLD),
  VECTOR_BACKEND: z.enum(['hnsw', 'pgvector']).default('hnsw'),
  FOLLOW_POLL_MS: int(0, 3_600_000).default(1000),
  QUERY_BATCH_WINDOW_MS: int(0, 1000).default(2),
  QUERY_BATCH_MAX: int(1, 1024).default(32),
  HYDRATE_CACHE_SIZE: int(0, 10_000_000).default(10_000),
  HYDRATE_CACHE_TTL_MS: int(0, 86_400_000).default(5000),
  INGEST_BATCH: int(1, 4096).default(32),
  INGEST_CONCURRENCY: int(1, 64).default(4),
  REMOTE_IMAGE_HOSTS: list.default([]),
  LOCAL_IMAGE_ROOTS: list.default([]),
  CORS_ORIGINS: list
    .refine(
      (v) => v.every((o) => o === '*' || isOrigin(o)),
      'each entry must be an origin such as http://localhost:3000, or *',
    )
    .refine((v) => !v.includes('*') || v.length === 1, '* must stand alone')
    .default([]),
  SEED: int(0, 2 ** 31 - 1).default(42),
  // Hugging Face hub settings, named and defaulted as huggingface_hub documents them
  // (https://huggingface.co/docs/huggingface_hub/package_reference/environment_variables).
  HF_ENDPOINT: z.url().default('https://huggingface.co'),
  HF_TOKEN: z.string().trim().min(1).optional(),
  HUGGING_FACE_HUB_TOKEN: z.string().trim().min(1).optional(),
  HF_TOKEN_PATH: z.string().trim().min(1).optional(),
  HF_HOME: z.string().trim().min(1).optional(),
  HF_HUB_CACHE: z.string().trim().min(1).optional(),
  XDG_CACHE_HOME: z.string().trim().min(1).optional(),
  // huggingface_hub's truth test: 1, ON, YES, TRUE in any case; anything else is false.
  HF_HUB_OFFLINE: z
    .string()
    .transform((v) => ['1', 'ON', 'YES', 'TRUE'].includes(v.toUpperCase()))
    .optional(),
  HF_HUB_DOWNLOAD_TIMEOUT: int(1, 3600).default(10),
});

export type Profile = z.infer<typeof EnvSchema>['MODELS'];
export type Device = z.infer<typeof EnvSchema>['DEVICE'];

export interface Config {
  /** `undefined` means the embedded PGlite database under `dataDir/pg`. */
  databaseUrl: string | undefined;
  dataDir: string;
  profile: Profile;
  /** How token states become one text vector, for models that output token states. */
  textPooling: 'mean' | 'cls';
  device: Device;
  ort: { intraOpThreads: number; interOpThreads: number };
  server: {
    host: string;
    port: number;
    production: boolean;
    /** How long SIGTERM may take in all (drain requests, save indexes, close the database). */
    shutdownGraceMs: number;
  };
  auth: { apiKey: string | undefined; allowUnauthenticatedMutations: boolean };
  logLevel: string;
  limits: {
    maxImageBytes: number;
    maxImagePixels: number;
    maxQueryText: number;
    maxFirst: number;
    maxBodyBytes: number;
    maxQueryDepth: number;
    maxQueryComplexity: number;
    maxRootFields: number;
    requestTimeoutMs: number;
    /** How long a mutation's answer is kept for retries with the same Idempotency-Key. */
    idempotencyRetentionMs: number;
  };
  /** HNSW graph parameters; the pgvector backend's indexes use the same three. */
  hnsw: { m: number; efConstruction: number; ef: number };
  /**
   * A search whose filter allows at most `exactThreshold` items scores exactly those items instead
   * of walking the graph (which would reject almost everything it visits). One value for every
   * layer: the engine's filtered search, HnswIndex's id-set filter, pgvector's exact path.
   */
  search: { exactThreshold: number };
  /** Where vectors are searched: in-process hnswlib files, or pgvector inside Postgres. */
  vectorBackend: 'hnsw' | 'pgvector';
  /**
   * API processes on a server follow the vector tables (rows other replicas and workers commit):
   * woken by LISTEN/NOTIFY, polling every `pollMs` as the fallback; 0 turns following off.
   */
  follow: { pollMs: number };
  /**
   * Concurrent queries share encoder runs: the first waits up to `windowMs` (0 = off) for others,
   * at most `maxBatch` per run.
   */
  queryBatch: { windowMs: number; maxBatch: number };
  /**
   * Hydrated image hits kept in memory (0 = off); changes by this process evict at once, changes
   * by other processes sharing the database show after at most `ttlMs`.
   */
  hydrateCache: { maxEntries: number; ttlMs: number };
  ingest: { batchSize: number; concurrency: number };
  /**
   * Hosts query images may be fetched from: exact names, `*.domain` or `*`; empty = remote URLs
   * refused. Only an exact entry may resolve to a private or loopback address.
   */
  remoteImageHosts: readonly string[];
  /**
   * Origins whose pages may call the API from a browser: exact origins, or `*` (read-only use:
   * refused with unauthenticated mutations). Empty: same-origin only, no CORS headers.
   */
  corsOrigins: readonly string[];
  /** Directories that query images may be read from by path; empty = server paths refused. */
  localImageRoots: readonly string[];
  seed: number;
  paths: {
    models: string;
    indexes: string;
    pg: string;
    cache: string;
    projections: string;
    samples: string;
    /** Trained fusion classifiers: `<classifiers>/<profile>/<task>/`. */
    classifiers: string;
  };
  hub: HubConfig;
}

/** How `npm run models -- fetch` reaches the Hugging Face hub and where it shares files with other HF tools. */
export interface HubConfig {
  /** HF_ENDPOINT without a trailing slash. */
  endpoint: string;
  /** HF_TOKEN (or the legacy HUGGING_FACE_HUB_TOKEN), sent as `Authorization: Bearer`; needed for gated or private repos. */
  token: string | undefined;
  /** HF_TOKEN_PATH, default $HF_HOME/token: where `hf auth login` stores a token, used when HF_TOKEN is unset. */
  tokenFile: string;
  /** HF_HUB_CACHE: the cache shared with huggingface_hub (`models--org--name/{blobs,refs,snapshots}`). */
  cacheDir: string;
  /** HF_HUB_OFFLINE: use only what the hub cache already holds. */
  offline: boolean;
  /** HF_HUB_DOWNLOAD_TIMEOUT in ms: a transfer that receives no byte for this long has stalled. */
  stallTimeoutMs: number;
}

/**
 * The request body that carries an image of `maxImageBytes` as base64 in a JSON query: 4 characters
 * for every 3 bytes, plus 64 KiB for the data: URL prefix, the query text and the other variables.
 */
export function bodyBytesFor(maxImageBytes: number): number {
  return Math.ceil(maxImageBytes / 3) * 4 + 64 * 1024;
}

export type ConfigOverrides = Partial<
  Record<keyof z.input<typeof EnvSchema>, string | number | boolean | undefined>
>;

export function loadConfig(
  options: { env?: NodeJS.ProcessEnv; overrides?: ConfigOverrides } = {},
): Readonly<Config> {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const fromOverride = options.overrides?.[key as keyof ConfigOverrides];
    const value = fromOverride ?? env[key];
    if (value !== undefined && value !== '') raw[key] = String(value);
  }
  const parsed = EnvSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new AppError('BAD_CONFIG', `Invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      details: { problems },
    });
  }
  const e = parsed.data;
  const problems: string[] = [];
  // With `*` any web page may call the API; mutations must then need the key (reads are public anyway).
  if (e.CORS_ORIGINS.includes('*') && e.ALLOW_UNAUTHENTICATED_MUTATIONS && !e.API_KEY) {
    problems.push('CORS_ORIGINS: * lets any web page call the API; set API_KEY or list exact origins');
  }
  const neededBody = bodyBytesFor(e.MAX_IMAGE_BYTES);
  if (e.MAX_BODY_BYTES !== undefined && e.MAX_BODY_BYTES < neededBody) {
    problems.push(
      `MAX_BODY_BYTES: ${e.MAX_BODY_BYTES} cannot carry an image of MAX_IMAGE_BYTES (${e.MAX_IMAGE_BYTES}) ` +
        `as base64; it needs at least ${neededBody} (or leave it unset)`,
    );
  }
  if (problems.length > 0) {
    throw new AppError('BAD_CONFIG', `Invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      details: { problems },
    });
  }
  const dataDir = path.resolve(e.DATA_DIR);
  return deepFreeze<Config>({
    databaseUrl: e.DATABASE_URL === undefined || e.DATABASE_URL === '' ? undefined : e.DATABASE_URL,
    dataDir,
    profile: e.MODELS,
    textPooling: e.TEXT_POOLING,
    device: e.DEVICE,
    ort: { intraOpThreads: e.ORT_INTRA_THREADS, interOpThreads: e.ORT_INTER_THREADS },
    server: {
      host: e.HOST,
      port: e.PORT,
      production: e.NODE_ENV !== 'development',
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    },
    auth: { apiKey: e.API_KEY, allowUnauthenticatedMutations: e.ALLOW_UNAUTHENTICATED_MUTATIONS },
    logLevel: e.LOG_LEVEL,
    limits: {
      maxImageBytes: e.MAX_IMAGE_BYTES,
      maxImagePixels: e.MAX_IMAGE_PIXELS,
      maxQueryText: e.MAX_QUERY_TEXT,
      maxFirst: e.MAX_FIRST,
      maxBodyBytes: e.MAX_BODY_BYTES ?? neededBody,
      maxQueryDepth: e.MAX_QUERY_DEPTH,
      maxQueryComplexity: e.MAX_QUERY_COMPLEXITY,
      maxRootFields: e.MAX_ROOT_FIELDS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      idempotencyRetentionMs: e.IDEMPOTENCY_RETENTION_HOURS * 3_600_000,
    },
    hnsw: { m: e.HNSW_M, efConstruction: e.HNSW_EF_CONSTRUCTION, ef: e.HNSW_EF },
    search: { exactThreshold: e.EXACT_SEARCH_THRESHOLD },
    vectorBackend: e.VECTOR_BACKEND,
    follow: { pollMs: e.FOLLOW_POLL_MS },
    queryBatch: { windowMs: e.QUERY_BATCH_WINDOW_MS, maxBatch: e.QUERY_BATCH_MAX },
    hydrateCache: { maxEntries: e.HYDRATE_CACHE_SIZE, ttlMs: e.HYDRATE_CACHE_TTL_MS },
    ingest: { batchSize: e.INGEST_BATCH, concurrency: e.INGEST_CONCURRENCY },
    remoteImageHosts: e.REMOTE_IMAGE_HOSTS,
    corsOrigins: e.CORS_ORIGINS,
    localImageRoots: e.LOCAL_IMAGE_ROOTS.map((p) => path.resolve(p)),
    seed: e.SEED,
    paths: {
      models: path.join(dataDir, 'models'),
      indexes: path.join(dataDir, 'indexes'),
      pg: path.join(dataDir, 'pg'),
      cache: path.join(dataDir, 'cache'),
      projections: path.join(dataDir, 'projections'),
      classifiers: path.join(dataDir, 'classifiers'),
      samples: path.join(dataDir, 'samples'),
    },
    hub: {
      endpoint: e.HF_ENDPOINT.replace(/\/+$/, ''),
      token: e.HF_TOKEN ?? e.HUGGING_FACE_HUB_TOKEN,
      tokenFile: expandHome(e.HF_TOKEN_PATH ?? path.join(hfHome(e.HF_HOME, e.XDG_CACHE_HOME), 'token')),
      cacheDir: expandHome(e.HF_HUB_CACHE ?? path.join(hfHome(e.HF_HOME, e.XDG_CACHE_HOME), 'hub')),
      offline: e.HF_HUB_OFFLINE ?? false,
      stallTimeoutMs: e.HF_HUB_DOWNLOAD_TIMEOUT * 1000,
    },
  });
}

/**
 * huggingface_hub's defaults (constants.py): HF_HOME, else $XDG_CACHE_HOME/huggingface, where
 * XDG_CACHE_HOME defaults to ~/.cache; the hub cache is HF_HUB_CACHE, else $HF_HOME/hub.
 */
function hfHome(hfHomeVar: string | undefined, xdgCache: string | undefined): string {
  return hfHomeVar ?? path.join(xdgCache ?? path.join(os.homedir(), '.cache'), 'huggingface');
}

/** Like Python's `expanduser`, which huggingface_hub applies to these paths. */
function expandHome(p: string): string {
  return path.resolve(p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);
}

/** An origin as browsers send it: http(s), host, optional port, nothing else (no path, no slash). */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
