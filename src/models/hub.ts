import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config, Profile } from '../config.ts';
import { AppError, describeError, isAppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { downloadBlob, type DownloadResult } from './download.ts';
import { HubCache, isCommitHash, placeFile } from './hub-cache.ts';
import { headFile, resolveUrl, type HubRequestOptions, type RemoteFile } from './hub-http.ts';
import { PROFILES, type ModelPart } from './profiles.ts';
import { ensureTinyModels } from './tiny/generate.ts';

/** Receives a file's transfer progress; `scripts/` draws it (a bar on a TTY, log lines otherwise). */
export interface FetchProgress {
  start(file: string, total: number, done: number): void;
  update(done: number): void;
  end(): void;
}

export interface FetchProfileOptions {
  /** Hub base URL. @default config.hub.endpoint (HF_ENDPOINT) */
  endpoint?: string;
  /** Stall timeout per request. @default config.hub.stallTimeoutMs (HF_HUB_DOWNLOAD_TIMEOUT) */
  stallTimeoutMs?: number;
  /** Resumptions of a failed transfer in one run. @default 5 */
  retries?: number;
  /** Pause before a resumption, doubling. @default 1000 */
  retryDelayMs?: number;
  /**
   * Put real copies under `<localDir>/<profile>/<part>/` (for an air-gapped machine: copy that
   * folder to its DATA_DIR/models) instead of linking them into DATA_DIR/models.
   * @default undefined (DATA_DIR/models)
   */
  localDir?: string;
  /** Shows each download's progress. @default none */
  progress?: FetchProgress;
  /** Fetch these parts instead of the profile's own (tests, custom models). @default PROFILES[profile] */
  parts?: Readonly<Record<Role, ModelPart>>;
  logger?: Logger;
}

export interface FetchedFile {
  /** Where the file now is, in DATA_DIR/models/<profile>/<part> or under `localDir`. */
  path: string;
  url: string;
  /**
   * downloaded: over the network (resumed if `resumedFrom` > 0); cached: from the HF hub cache;
   * present: already in place (put there by hand or by an earlier run); generated: the tiny profile.
   */
  status: 'downloaded' | 'cached' | 'present' | 'generated';
  /** Bytes received over the network. */
  bytes?: number;
  resumedFrom?: number;
  commit?: string;
}

type HubConfig = Pick<Config, 'paths' | 'seed' | 'hub'>;
type Role = 'text' | 'image';
interface PartFile {
  role: Role;
  part: ModelPart;
  file: string;
  path: string;
  url: string;
}

/** Every file a profile needs: where it goes locally and its resolve URL on the hub. */
export function profileFiles(
  config: Pick<Config, 'paths' | 'hub'>,
  profile: Profile,
  options: { endpoint?: string; localDir?: string; parts?: Readonly<Record<Role, ModelPart>> } = {},
): PartFile[] {
  const root = path.resolve(options.localDir ?? config.paths.models);
  const endpoint = options.endpoint ?? config.hub.endpoint;
  return (['text', 'image'] as const).flatMap((role) => {
    const part = (options.parts ?? PROFILES[profile])[role];
    return part.files.map((file) => ({
      role,
      part,
      file,
      path: path.join(root, profile, role, ...file.split('/')),
      url: resolveUrl(endpoint, part.repo, part.revision, file),
    }));
  });
}

/**
 * Fetches a profile's files the way Hugging Face tools do, sharing their hub cache (HF_HUB_CACHE):
 * what Python or another run already downloaded is reused, new downloads land in the cache layout
 * and are then linked into DATA_DIR/models/<profile>/<part>, where the loaders look. The tiny profile
 * is generated instead. Failures are AppErrors: NETWORK (offline), DOWNLOAD_STALLED,
 * HUB_UNAUTHORIZED (401/403), HUB_NOT_FOUND (404), DOWNLOAD_CORRUPT, MODEL_MISSING (HF_HUB_OFFLINE).
 */
export async function fetchProfile(
  config: HubConfig,
  profile: Profile,
  options: FetchProfileOptions = {},
): Promise<FetchedFile[]> {
  if (profile === 'tiny' || profile === 'tiny-base') {
    await ensureTinyModels(config, options.logger, profile === 'tiny' ? 'tiny' : 'base');
    return profileFiles(config, profile).map((f) => ({
      path: f.path,
      url: '(generated)',
      status: 'generated',
    }));
  }
  const files = profileFiles(config, profile, options);
  const token = config.hub.token ?? (await readTokenFile(config.hub.tokenFile));
  const results: FetchedFile[] = [];
  for (const f of files) {
    try {
      results.push(await fetchFile(config, token, f, options));
    } catch (error) {
      throw withManualFix(profile, files, error);
    }
  }
  return results;
}

/**
 * One file, cheapest source first: the hub cache (pinned commit or offline), the file already in
 * place, the cache again once the hub has said which commit and blob the revision means, and only
 * then the network.
 */
async function fetchFile(
  config: HubConfig,
  token: string | undefined,
  f: PartFile,
  options: FetchProfileOptions,
): Promise<FetchedFile> {
  const cache = new HubCache(config.hub.cacheDir);
  const { repo, revision } = f.part;
  const copy = options.localDir !== undefined;
  // A pinned commit names exact bytes, so a cached copy needs no request; offline, the cache is all there is.
  if (isCommitHash(revision) || config.hub.offline) {
    const cached = await cache.lookup(repo, revision, f.file);
    if (cached !== undefined) {
      const commit = await cache.commitOf(repo, revision);
      if (await sameFile(cached, f.path)) return { path: f.path, url: f.url, status: 'present', commit };
      await placeFile(cached, f.path, { copy });
      return { path: f.path, url: f.url, status: 'cached', commit };
    }
  }
  if (existsSync(f.path)) return { path: f.path, url: f.url, status: 'present' };
  if (config.hub.offline) {
    throw new AppError(
      'MODEL_MISSING',
      `HF_HUB_OFFLINE is set and ${repo}/${f.file} (revision ${revision}) is not in the hub cache ${cache.cacheDir}.`,
      { details: { repo, revision, file: f.file, cacheDir: cache.cacheDir } },
    );
  }
  const http: HubRequestOptions = {
    endpoint: options.endpoint ?? config.hub.endpoint,
    token,
    stallTimeoutMs: options.stallTimeoutMs ?? config.hub.stallTimeoutMs,
  };
  const where = { repo, revision, file: f.file };
  let remote;
  try {
    remote = await headFile(http, where);
  } catch (error) {
    // Like huggingface_hub: when the hub cannot be reached, the last commit this branch resolved to will do.
    const cached = isAppError(error, 'NETWORK') ? await cache.lookup(repo, revision, f.file) : undefined;
    if (cached === undefined) throw error;
    options.logger?.warn(
      { repo, revision, file: f.file, error: describeError(error) },
      'hub unreachable; using the cached file',
    );
    await placeFile(cached, f.path, { copy });
    return { path: f.path, url: f.url, status: 'cached', commit: await cache.commitOf(repo, revision) };
  }
  await cache.writeRef(repo, revision, remote.commit);
  const known = await cache.lookup(repo, remote.commit, f.file);
  if (known !== undefined || existsSync(cache.blobPath(repo, remote.etag))) {
    const pointer = known ?? (await cache.linkSnapshot(repo, remote.commit, f.file, remote.etag));
    await placeFile(pointer, f.path, { copy });
    return { path: f.path, url: f.url, status: 'cached', commit: remote.commit };
  }
  const done = await downloadToCache(cache, remote, where, http, options);
  const pointer = await cache.linkSnapshot(repo, remote.commit, f.file, remote.etag);
  await placeFile(pointer, f.path, { copy });
  return {
    path: f.path,
    url: f.url,
    status: 'downloaded',
    bytes: done.transferred,
    resumedFrom: done.resumedFrom,
    commit: remote.commit,
  };
}

/** True when `target` is a hard link to the cached blob already, as an earlier fetch left it. */
async function sameFile(cached: string, target: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(cached), stat(target)]);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/** The token `hf auth login` saved, as huggingface_hub reads it when HF_TOKEN is unset. */
async function readTokenFile(file: string): Promise<string | undefined> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}

/** Downloads a file's bytes into `blobs/<etag>`, resuming the `.incomplete` an earlier run left, with progress. */
async function downloadToCache(
  cache: HubCache,
  remote: RemoteFile,
  where: { repo: string; revision: string; file: string },
  http: HubRequestOptions,
  options: FetchProfileOptions,
): Promise<DownloadResult> {
  const incomplete = cache.incompletePath(where.repo, remote.etag);
  const partial = existsSync(incomplete) ? (await stat(incomplete)).size : 0;
  options.progress?.start(`${where.repo}/${where.file}`, remote.size, Math.min(partial, remote.size));
  try {
    return await downloadBlob(
      remote,
      http.token,
      { incomplete, blob: cache.blobPath(where.repo, remote.etag), where },
      {
        stallTimeoutMs: http.stallTimeoutMs,
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        onProgress: (done) => options.progress?.update(done),
        onRetry: (error, offset) =>
          options.logger?.warn(
            { file: where.file, offset, error: describeError(error) },
            'download interrupted; resuming',
          ),
      },
    );
  } finally {
    options.progress?.end();
  }
}

/** Keeps the error's code and adds, for every file still missing, where to put it by hand. */
function withManualFix(profile: Profile, files: PartFile[], error: unknown): unknown {
  if (!isAppError(error)) return error;
  const missing = files.filter((f) => !existsSync(f.path));
  const lines = missing.map((f) => `  ${f.path}\n      <- ${f.url}`);
  return new AppError(
    error.code,
    `Cannot fetch the "${profile}" model profile: ${error.message}\n` +
      `Alternatively, on a machine that can download them, run \`npm run models -- fetch ${profile} --local-dir <dir>\`, ` +
      `or put these files here by hand (or use MODELS=tiny, which needs no download):\n${lines.join('\n')}`,
    { cause: error, details: { ...error.details, profile, missing: missing.map((f) => f.path) } },
  );
}
