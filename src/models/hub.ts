import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Config, Profile } from '../config.ts';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { partDir, PROFILES, type ModelPart } from './profiles.ts';
import { ensureTinyModels } from './tiny/generate.ts';

export interface FetchProfileOptions {
  /** @default 'https://huggingface.co' */
  hubUrl?: string;
  /** Per file; a stalled download fails instead of hanging. @default 600000 */
  timeoutMs?: number;
  /** For tests: another fetch implementation. @default globalThis.fetch */
  fetchImpl?: typeof fetch;
  logger?: Logger;
}

export interface FetchedFile {
  path: string;
  url: string;
  status: 'downloaded' | 'present';
  bytes?: number;
}

/** Every file a profile needs: where it goes locally and where it comes from on the hub. */
export function profileFiles(
  config: Pick<Config, 'paths'>,
  profile: Profile,
  hubUrl = 'https://huggingface.co',
): { path: string; url: string }[] {
  const spec = PROFILES[profile];
  const files: { path: string; url: string }[] = [];
  for (const role of ['text', 'image'] as const) {
    const part: ModelPart = spec[role];
    for (const rel of part.files) {
      files.push({
        path: path.join(partDir(config, profile, role), rel),
        url: `${hubUrl}/${part.repo}/resolve/main/${rel}`,
      });
    }
  }
  return files;
}

/**
 * Downloads a profile's files from the Hugging Face hub into `DATA_DIR/models/<profile>` (the
 * tiny profile is generated instead). Files already present are kept. Offline, it fails with
 * AppError NETWORK naming the profile, every file and where to put it by hand.
 */
export async function fetchProfile(
  config: Pick<Config, 'paths' | 'seed'>,
  profile: Profile,
  options: FetchProfileOptions = {},
): Promise<FetchedFile[]> {
  if (profile === 'tiny') {
    await ensureTinyModels(config, options.logger);
    return profileFiles(config, 'tiny').map((f) => ({ path: f.path, url: '(generated)', status: 'present' }));
  }
  const hubUrl = options.hubUrl ?? 'https://huggingface.co';
  const doFetch = options.fetchImpl ?? globalThis.fetch;
  const files = profileFiles(config, profile, hubUrl);
  const results: FetchedFile[] = [];
  for (const file of files) {
    if (existsSync(file.path)) {
      results.push({ ...file, status: 'present' });
      continue;
    }
    try {
      options.logger?.info({ url: file.url }, 'downloading');
      const bytes = await download(doFetch, file.url, file.path, options.timeoutMs ?? 600_000);
      results.push({ ...file, status: 'downloaded', bytes });
    } catch (error) {
      throw offlineError(config, profile, files, error);
    }
  }
  return results;
}

async function download(
  doFetch: typeof fetch,
  url: string,
  target: string,
  timeoutMs: number,
): Promise<number> {
  const response = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status} for ${url}`);
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.part-${process.pid}`;
  let bytes = 0;
  try {
    const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await pipeline(body, createWriteStream(tmp));
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
  return bytes;
}

function offlineError(
  config: Pick<Config, 'paths'>,
  profile: Profile,
  files: { path: string; url: string }[],
  cause: unknown,
): AppError {
  const missing = files.filter((f) => !existsSync(f.path));
  const lines = missing.map((f) => `  ${f.path}\n      <- ${f.url}`);
  return new AppError(
    'NETWORK',
    `Cannot download the "${profile}" model profile (${networkReason(cause)}). ` +
      `The hub is not reachable from this machine (offline?). Download these files elsewhere and put them here by hand, ` +
      `then run again (or use MODELS=tiny, which needs no download):\n${lines.join('\n')}`,
    {
      cause,
      details: { profile, missing: missing.map((f) => f.path), dir: path.join(config.paths.models, profile) },
    },
  );
}

/** `fetch failed` alone says little; the cause's code (ENOTFOUND, ECONNREFUSED...) says why. */
function networkReason(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  const detail = cause?.code ?? cause?.message;
  return detail !== undefined ? `${describeError(error)}: ${detail}` : describeError(error);
}
