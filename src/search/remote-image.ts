/**
 * Fetching a query image from a URL without becoming an SSRF proxy: only allowlisted hosts, DNS
 * resolved once and checked against private/loopback ranges, the connection pinned to the checked
 * address (no DNS rebinding), redirects followed only within the same origin, bytes and time capped.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { AppError } from '../errors.ts';

export interface RemoteImageOptions {
  /**
   * Exact host names (or IP literals), `*.example.org` suffix patterns, or `*` for any public host.
   * Only an exact entry may resolve to a private or loopback address.
   */
  allowedHosts: readonly string[];
  maxBytes: number;
  /** A total deadline for the whole fetch (DNS, connect, redirects, body), not an idle timeout. */
  timeoutMs: number;
  /** @default 3 */
  maxRedirects?: number;
  /** The caller's own cancellation (the API request timed out, its client left). */
  signal?: AbortSignal;
}

const privateRanges = new net.BlockList();
for (const [net4, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  privateRanges.addSubnet(net4, prefix, 'ipv4');
}
for (const [net6, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  privateRanges.addSubnet(net6, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return privateRanges.check(mapped[1]!, 'ipv4');
  const family = net.isIP(address);
  if (family === 0) return true;
  return privateRanges.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** 'exact' | 'wildcard' | undefined (not allowed). */
function hostAllowance(host: string, allowed: readonly string[]): 'exact' | 'wildcard' | undefined {
  let result: 'wildcard' | undefined;
  for (const raw of allowed) {
    const entry = raw.toLowerCase();
    if (entry === host) return 'exact';
    if (entry === '*' || (entry.startsWith('*.') && host.endsWith(entry.slice(1)))) result = 'wildcard';
  }
  return result;
}

export async function fetchRemoteImage(rawUrl: string, options: RemoteImageOptions): Promise<Buffer> {
  const url = parseUrl(rawUrl);
  const origin = url.origin;
  // One deadline for everything: a host dripping a byte a second never resets it.
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new AppError('TIMEOUT', `Fetching the image took longer than ${options.timeoutMs} ms`),
      ),
    options.timeoutMs,
  );
  const onCallerAbort = () => controller.abort(options.signal!.reason);
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (options.signal?.aborted) onCallerAbort();
  try {
    return await fetchWithin(url, origin, options, controller.signal);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCallerAbort);
  }
}

async function fetchWithin(
  first: URL,
  origin: string,
  options: RemoteImageOptions,
  signal: AbortSignal,
): Promise<Buffer> {
  let url = first;
  for (let redirects = 0; ; redirects++) {
    const address = await untilAborted(checkedAddress(url, options.allowedHosts), signal);
    const response = await request(url, address, options.maxBytes, signal);
    if (response.redirect === undefined) return response.body;
    if (redirects >= (options.maxRedirects ?? 3))
      throw new AppError('NETWORK', `Too many redirects fetching ${origin}`);
    const next = parseUrl(new URL(response.redirect, url).toString());
    if (next.origin !== origin) {
      throw new AppError('FORBIDDEN', `Refused a redirect from ${origin} to another origin (${next.origin})`);
    }
    url = next;
  }
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('INVALID_INPUT', 'image.url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('INVALID_INPUT', `image.url must be http or https, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new AppError('INVALID_INPUT', 'image.url must not carry credentials');
  }
  return url;
}

async function checkedAddress(
  url: URL,
  allowedHosts: readonly string[],
): Promise<{ address: string; family: number }> {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const allowance = hostAllowance(host, allowedHosts);
  if (allowance === undefined) {
    throw new AppError(
      'FORBIDDEN',
      `Fetching images from host "${host}" is not allowed (see REMOTE_IMAGE_HOSTS)`,
    );
  }
  let addresses: { address: string; family: number }[];
  try {
    addresses = net.isIP(host)
      ? [{ address: host, family: net.isIP(host) }]
      : await lookup(host, { all: true });
  } catch (cause) {
    throw new AppError('NETWORK', `Cannot resolve host "${host}"`, { cause });
  }
  if (addresses.length === 0) throw new AppError('NETWORK', `Host "${host}" has no addresses`);
  if (allowance !== 'exact' && addresses.some((a) => isPrivateAddress(a.address))) {
    throw new AppError(
      'FORBIDDEN',
      `Host "${host}" resolves to a private or loopback address; only an exact REMOTE_IMAGE_HOSTS entry may`,
    );
  }
  return addresses[0]!;
}

/** `work`, or the signal's reason as soon as it aborts (a DNS lookup cannot be cancelled itself). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function request(
  url: URL,
  pinned: { address: string; family: number },
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ body: Buffer; redirect?: string }> {
  const client = url.protocol === 'https:' ? https : http;
  const options = { maxBytes };
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    // The deadline destroys the socket, mid-body included: nothing stays open after the answer.
    const onAbort = () => {
      req.destroy();
      reject(signal.reason as Error);
    };
    const req = client.get(
      url,
      {
        // Connect to the address we checked, not whatever DNS says a moment later.
        lookup: (_host, opts, callback) => {
          if ((opts as { all?: boolean }).all) callback(null, [pinned] as never, undefined as never);
          else callback(null, pinned.address, pinned.family);
        },
        headers: { accept: 'image/*' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          resolve({ body: Buffer.alloc(0), redirect: res.headers.location });
          return;
        }
        if (status < 200 || status >= 300) {
          res.resume();
          reject(new AppError('NETWORK', `Fetching the image failed with HTTP ${status}`));
          return;
        }
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > options.maxBytes) {
          res.destroy();
          reject(new AppError('LIMIT_EXCEEDED', `Remote image is larger than ${options.maxBytes} bytes`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            res.destroy();
            reject(new AppError('LIMIT_EXCEEDED', `Remote image is larger than ${options.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ body: Buffer.concat(chunks) }));
        res.on('error', (cause) =>
          reject(new AppError('NETWORK', 'Reading the remote image failed', { cause })),
        );
      },
    );
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal.removeEventListener('abort', onAbort));
    req.on('error', (cause) =>
      reject(new AppError('NETWORK', `Fetching the image failed: ${describeSocketError(cause)}`, { cause })),
    );
  });
}

/**
 * A socket or TLS failure in words a client can act on. Node's messages for TLS failures carry
 * OpenSSL internals (`0A00010B:SSL routines:...`, paths of the build), which are not the client's.
 */
function describeSocketError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const name = typeof code === 'string' ? code : 'unknown error';
  if (name === 'EPROTO' || /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(name)) {
    return `the TLS handshake failed (${name})`;
  }
  if (name === 'ECONNREFUSED') return 'the host refused the connection';
  if (name === 'ECONNRESET') return 'the host closed the connection';
  return `the connection failed (${name})`;
}
