import { AppError, describeError } from '../errors.ts';

/** What the hub says about one file at one revision, from a HEAD on its resolve URL. */
export interface RemoteFile {
  /** `{endpoint}/{repo}/resolve/{revision}/{path}` */
  url: string;
  /** Where the bytes come from: the LFS/CDN location the hub redirects to, or `url`. */
  downloadUrl: string;
  /** X-Repo-Commit: the commit `revision` resolved to. */
  commit: string;
  /** X-Linked-Etag, else ETag, unquoted: sha256 of an LFS file, git blob sha1 of a small one. */
  etag: string;
  /** X-Linked-Size, else Content-Length of a non-redirect. */
  size: number;
  /** Send the token with the GET; false when the download host is another one (a signed CDN URL). */
  sendToken: boolean;
}

export interface HubRequestOptions {
  endpoint: string;
  token: string | undefined;
  /** No response (headers or bytes) for this long fails the request as stalled. */
  stallTimeoutMs: number;
}

/** Relative redirects (renamed repos) are followed; a bound keeps a redirect loop from spinning. */
const MAX_RELATIVE_REDIRECTS = 5;

export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  const rel = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${rel}`;
}

export function hubHeaders(
  token: string | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  // identity: the sizes and byte ranges below are about the stored bytes, never a gzip stream.
  const headers: Record<string, string> = {
    'accept-encoding': 'identity',
    'user-agent': 'crossmodal-search',
    ...extra,
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return headers;
}

/**
 * HEADs a file's resolve URL with redirects off, like huggingface_hub's `get_hf_file_metadata`:
 * a relative redirect is followed; an absolute one (the LFS CDN) is where the bytes are, and the
 * hub's X-Linked-* headers on that redirect describe them.
 */
export async function headFile(
  options: HubRequestOptions,
  where: { repo: string; revision: string; file: string },
): Promise<RemoteFile> {
  const url = resolveUrl(options.endpoint, where.repo, where.revision, where.file);
  let current = url;
  for (let hop = 0; hop <= MAX_RELATIVE_REDIRECTS; hop++) {
    const response = await withStallTimeout(options.stallTimeoutMs, current, (signal) =>
      fetch(current, { method: 'HEAD', redirect: 'manual', headers: hubHeaders(options.token), signal }),
    );
    if (response.status >= 400) throw hubHttpError(response, current, where);
    const location = response.headers.get('location');
    const redirect = response.status >= 300 && response.status < 400 && location !== null;
    if (redirect && location.startsWith('/')) {
      current = new URL(location, current).toString();
      continue;
    }
    return metadataOf(response, url, redirect ? new URL(location, current).toString() : current, where);
  }
  throw new AppError('NETWORK', `more than ${MAX_RELATIVE_REDIRECTS} redirects for ${url}`, {
    details: { url },
  });
}

function metadataOf(
  response: Response,
  url: string,
  downloadUrl: string,
  where: { repo: string; file: string },
): RemoteFile {
  const h = response.headers;
  const commit = h.get('x-repo-commit');
  const etag = (h.get('x-linked-etag') ?? h.get('etag'))?.replace(/^W\//, '').replace(/"/g, '');
  // A redirect's Content-Length is the redirect body's, never the file's.
  const sizeHeader = h.get('x-linked-size') ?? (response.status < 300 ? h.get('content-length') : null);
  const size = sizeHeader === null ? NaN : Number(sizeHeader);
  if (commit === null || etag === undefined || etag === '' || !Number.isSafeInteger(size)) {
    // What huggingface_hub reports as FileMetadataError: usually a proxy or firewall answering instead of the hub.
    throw new AppError(
      'NETWORK',
      `${url} answered without the hub's X-Repo-Commit / ETag / size headers, so it is not the Hugging Face hub ` +
        `(a proxy or captive portal?). Check HF_ENDPOINT and your network.`,
      { details: { url, repo: where.repo, file: where.file } },
    );
  }
  const sendToken = new URL(downloadUrl).host === new URL(url).host;
  return { url, downloadUrl, commit, etag, size, sendToken };
}

/**
 * Turns a hub error status into an AppError whose message says what to do. The hub answers 401 for
 * a private or gated repo without a token and also for a repo that does not exist (so as not to
 * reveal private names), hence the 401 message names both causes; X-Error-Code refines it.
 */
export function hubHttpError(
  response: Response,
  url: string,
  where: { repo: string; revision: string; file: string },
): AppError {
  const status = response.status;
  const code = response.headers.get('x-error-code');
  const details = {
    url,
    status,
    repo: where.repo,
    revision: where.revision,
    file: where.file,
    hubError: code,
  };
  if (status === 401 || status === 403 || code === 'GatedRepo') {
    return new AppError(
      'HUB_UNAUTHORIZED',
      `HTTP ${status} for ${url}: the hub refused access to ${where.repo}` +
        (code === 'GatedRepo' ? ' (a gated repo: accept its terms on the model page first)' : '') +
        `. If the repo is private or gated, set HF_TOKEN to an access token that can read it ` +
        `(https://huggingface.co/settings/tokens); if it is public, check the repo name.`,
      { details },
    );
  }
  if (status === 404) {
    const what =
      code === 'RevisionNotFound'
        ? `revision "${where.revision}" does not exist in ${where.repo}`
        : code === 'EntryNotFound'
          ? `${where.file} does not exist in ${where.repo} at revision "${where.revision}"`
          : `${where.repo}, revision "${where.revision}" or file ${where.file} does not exist`;
    return new AppError(
      'HUB_NOT_FOUND',
      `HTTP 404 for ${url}: ${what}. Check the repo, revision and file names of the profile (src/models/profiles.ts).`,
      { details },
    );
  }
  return new AppError('NETWORK', `HTTP ${status} for ${url}: the hub failed; try again later.`, { details });
}

/** The stall timer as an AbortSignal: `touch` rearms it, so only silence, never total time, trips it. */
export class StallTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  stalled = false;

  constructor(private readonly ms: number) {
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort(new Error(`no data for ${this.ms} ms`));
    }, this.ms);
  }

  /** Aborts without marking a stall (the caller gave up for another reason). */
  abort(): void {
    clearTimeout(this.timer);
    this.controller.abort();
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

export function stalledError(url: string, ms: number, cause?: unknown): AppError {
  return new AppError(
    'DOWNLOAD_STALLED',
    `No data from ${url} for ${ms / 1000} s: the download stalled. Run the command again: it resumes where it stopped. ` +
      `On a slow or flaky link, raise HF_HUB_DOWNLOAD_TIMEOUT (seconds).`,
    { cause, details: { url, stallTimeoutMs: ms } },
  );
}

/** Connection-level failure (no route, refused, DNS, reset): the machine is offline or the endpoint is wrong. */
export function offlineError(url: string, cause: unknown): AppError {
  return new AppError(
    'NETWORK',
    `Cannot reach ${url} (${networkReason(cause)}): this machine looks offline, or HF_ENDPOINT is wrong.`,
    { cause, details: { url } },
  );
}

/** `fetch failed` alone says little; the cause's code (ENOTFOUND, ECONNREFUSED...) says why. */
export function networkReason(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  const detail = cause?.code ?? cause?.message;
  return detail !== undefined ? `${describeError(error)}: ${detail}` : describeError(error);
}

async function withStallTimeout<T>(
  ms: number,
  url: string,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = new StallTimer(ms);
  try {
    return await run(timer.signal);
  } catch (error) {
    if (timer.stalled) throw stalledError(url, ms, error);
    throw offlineError(url, error);
  } finally {
    timer.clear();
  }
}
