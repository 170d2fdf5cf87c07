import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AppError, invariant, isAppError } from '../errors.ts';
import {
  hubHeaders,
  hubHttpError,
  offlineError,
  StallTimer,
  stalledError,
  type RemoteFile,
} from './hub-http.ts';

export interface DownloadOptions {
  /** No byte for this long aborts the transfer (then it is resumed). Never a total deadline. */
  stallTimeoutMs: number;
  /** Resumptions after a failed transfer (stall, dropped connection, 5xx) before giving up. @default 5 */
  retries?: number;
  /** Pause before resuming; doubles after each failure. @default 1000 */
  retryDelayMs?: number;
  /** Called after every chunk with the bytes on disk so far and the file's size. */
  onProgress?: (done: number, total: number) => void;
  /** Called when a transfer failed and will be resumed from `offset`. */
  onRetry?: (error: unknown, offset: number) => void;
}

export interface DownloadResult {
  /** Bytes received over the network by this call (a resumed file counts only the rest). */
  transferred: number;
  /** Bytes that were already in the `.incomplete` file when the call started. */
  resumedFrom: number;
}

type Where = { repo: string; revision: string; file: string };

/**
 * Downloads `remote` into `incomplete`, resuming what an earlier run left there with an HTTP Range
 * request, then checks size and checksum and renames it to `blob`. The `.incomplete` file is kept
 * on failure so the next run resumes; it is deleted only when its bytes are proven wrong.
 */
export async function downloadBlob(
  remote: RemoteFile,
  token: string | undefined,
  target: { incomplete: string; blob: string; where: Where },
  options: DownloadOptions,
): Promise<DownloadResult> {
  const { retries = 5, retryDelayMs = 1000 } = options;
  // NaN would make the retry bound below never true.
  invariant(Number.isInteger(retries) && retries >= 0, `retries must be a whole number >= 0, got ${retries}`);
  await mkdir(path.dirname(target.incomplete), { recursive: true });
  // Read-write without O_APPEND: Linux ignores the position of a write to an append-mode file.
  const file = await open(target.incomplete, constants.O_RDWR | constants.O_CREAT);
  let offset = (await file.stat()).size;
  const result: DownloadResult = { transferred: 0, resumedFrom: offset };
  try {
    // Longer than the file: not a prefix of it; start again.
    if (offset > remote.size) offset = await truncate(file);
    let lastError: unknown;
    // One first try plus at most `retries` resumptions, each from what is on disk by then.
    for (let attempt = 0; offset < remote.size; attempt++) {
      if (attempt > retries) throw lastError;
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** (attempt - 1)));
      try {
        offset = await transfer(remote, token, file, offset, target.where, options, result);
        if (offset < remote.size) lastError = droppedError(remote, offset);
      } catch (error) {
        if (!retryable(error)) throw error;
        lastError = error;
        offset = (await file.stat()).size;
      }
      if (offset < remote.size) options.onRetry?.(lastError, offset);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  await verify(target.incomplete, remote, target.where);
  await rename(target.incomplete, target.blob);
  return result;
}

/** One GET from `offset` to the end (or until it fails); returns the new offset. */
async function transfer(
  remote: RemoteFile,
  token: string | undefined,
  file: FileHandle,
  start: number,
  where: Where,
  options: DownloadOptions,
  result: DownloadResult,
): Promise<number> {
  let offset = start;
  const timer = new StallTimer(options.stallTimeoutMs);
  const url = remote.downloadUrl;
  try {
    const range: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const response = await fetch(url, {
      headers: hubHeaders(remote.sendToken ? token : undefined, range),
      signal: timer.signal,
    });
    if (response.status === 416 && offset > 0) {
      // The server cannot serve the rest of what we hold: the partial file is not this file's prefix.
      await response.body?.cancel();
      return await truncate(file);
    }
    if (response.status >= 400) throw hubHttpError(response, url, where);
    if (offset > 0 && response.status === 200) {
      // The server ignored the Range header and sends the whole file: start over, or the file would be garbage.
      offset = await truncate(file);
    } else if (offset > 0 && response.status === 206 && rangeStart(response) !== offset) {
      await response.body?.cancel();
      return await truncate(file);
    }
    if (response.body === null)
      throw new AppError('NETWORK', `empty response from ${url}`, { details: { url } });
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      timer.touch();
      if (offset + chunk.length > remote.size) {
        await file.truncate(0);
        throw corruptError(where, `the server sent more than the ${remote.size} bytes the hub announced`);
      }
      await file.write(chunk, 0, chunk.length, offset);
      offset += chunk.length;
      result.transferred += chunk.length;
      options.onProgress?.(offset, remote.size);
    }
    return offset;
  } catch (error) {
    if (isAppError(error)) throw error;
    if (timer.stalled) throw stalledError(url, options.stallTimeoutMs, error);
    // Bytes arrived, so the machine is online: the connection dropped mid-file.
    throw offset > start ? droppedError(remote, offset, error) : offlineError(url, error);
  } finally {
    timer.abort();
  }
}

function droppedError(remote: RemoteFile, offset: number, cause?: unknown): AppError {
  return new AppError(
    'NETWORK',
    `The connection to ${remote.downloadUrl} closed at ${offset} of ${remote.size} bytes. ` +
      `Run the command again: it resumes from there.`,
    { cause, details: { url: remote.downloadUrl, offset, size: remote.size } },
  );
}

function rangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
  return match === null ? undefined : Number(match[1]);
}

async function truncate(file: FileHandle): Promise<number> {
  await file.truncate(0);
  return 0;
}

/** Stalls, dropped connections and server-side failures are worth resuming; 401/404 and corruption are not. */
function retryable(error: unknown): boolean {
  if (!isAppError(error)) return false;
  if (error.code === 'DOWNLOAD_STALLED') return true;
  if (error.code !== 'NETWORK') return false;
  const status = error.details?.status;
  return (
    status === undefined ||
    (typeof status === 'number' && (status >= 500 || status === 408 || status === 429))
  );
}

/**
 * The hub's ETag is the content's address: a sha256 for LFS files, the git blob sha1 for small ones
 * (huggingface_hub names blobs by "git-sha or sha256"). A file that does not hash to it is refused.
 */
async function verify(file: string, remote: RemoteFile, where: Where): Promise<void> {
  const kind = /^[0-9a-f]{64}$/.test(remote.etag)
    ? 'sha256'
    : /^[0-9a-f]{40}$/.test(remote.etag)
      ? 'git'
      : 'none';
  const hash = createHash(kind === 'git' ? 'sha1' : 'sha256');
  if (kind === 'git') hash.update(`blob ${remote.size}\0`);
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  const digest = hash.digest('hex');
  const problem =
    size !== remote.size
      ? `${size} bytes on disk, the hub announced ${remote.size}`
      : kind !== 'none' && digest !== remote.etag
        ? `its ${kind === 'git' ? 'git blob sha1' : 'sha256'} is ${digest}, the hub's ETag says ${remote.etag}`
        : undefined;
  if (problem === undefined) return;
  // Proven wrong: resuming from these bytes could never succeed.
  await rm(file, { force: true });
  throw corruptError(where, problem);
}

function corruptError(where: Where, problem: string): AppError {
  return new AppError(
    'DOWNLOAD_CORRUPT',
    `${where.repo}/${where.file} (revision ${where.revision}) arrived corrupt: ${problem}. The partial file was ` +
      `deleted; run the command again to download it from scratch. If it keeps failing, a proxy is altering downloads.`,
    { details: { ...where, problem } },
  );
}
