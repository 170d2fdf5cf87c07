import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process stand-in for the Hugging Face hub, speaking the parts of its protocol that
 * huggingface_hub relies on (file_download.py):
 * - `/{org}/{name}/resolve/{revision}/{path}` for HEAD and GET, with X-Repo-Commit;
 * - small files answered directly with ETag = git blob sha1;
 * - LFS files answered with a 302 to `/lfs/{sha256}` (the CDN) carrying X-Linked-Etag = sha256 and
 *   X-Linked-Size;
 * - byte ranges (206 + Content-Range), 401 for a private repo without its token (the hub also
 *   answers 401 for a missing repo), 404 with X-Error-Code RevisionNotFound / EntryNotFound.
 * Faults are scripted per file: stall after N bytes, drop the connection after N bytes, flip a byte,
 * ignore Range.
 */
export interface FakeFile {
  content: Buffer;
  lfs: boolean;
}

export interface Fault {
  /** Send this many bytes, then go silent (the connection stays open). */
  stallAfter?: number;
  /** Send this many bytes, then destroy the socket. */
  dropAfter?: number;
  /** Serve the body with one byte changed. */
  corrupt?: boolean;
  /** Answer 200 with the whole body even when a Range is asked for. */
  ignoreRange?: boolean;
  /** How many GETs of the file the fault applies to. @default 1 */
  times?: number;
}

export interface FakeRepo {
  commit: string;
  files: Map<string, FakeFile>;
  /** Private: only this bearer token may read it. */
  token?: string;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
  acceptEncoding: string | undefined;
  status: number;
  /** Body bytes actually written to the socket. */
  bytes: number;
}

export class FakeHub {
  repos = new Map<string, FakeRepo>();
  readonly requests: LoggedRequest[] = [];
  private readonly faults = new Map<string, Fault>();
  private readonly server: Server;
  url = '';
  /** Where LFS redirects point: this server, or another one standing in for the CDN. */
  cdnUrl = '';

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.cdnUrl ||= this.url;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  addRepo(name: string, repo: FakeRepo): void {
    this.repos.set(name, repo);
  }

  /** Scripts a fault for the bytes of one file (by its sha256 or git sha1, i.e. its etag). */
  fault(etag: string, fault: Fault): void {
    this.faults.set(etag, { times: 1, ...fault });
  }

  gets(pathPart: string): LoggedRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path.includes(pathPart));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const log: LoggedRequest = {
      method: req.method ?? '',
      path: decodeURIComponent(url.pathname),
      range: req.headers.range,
      authorization: req.headers.authorization,
      acceptEncoding: req.headers['accept-encoding'],
      status: 0,
      bytes: 0,
    };
    this.requests.push(log);
    const reply = (status: number, headers: Record<string, string | number> = {}, body?: Buffer) => {
      log.status = status;
      res.writeHead(status, headers);
      if (body !== undefined && req.method !== 'HEAD') {
        log.bytes += body.length;
        res.end(body);
      } else res.end();
    };
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(log.path);
    if (lfs !== null) {
      const file = this.findBlob(lfs[1]!);
      if (file === undefined) return reply(404);
      return this.sendBytes(req, res, log, file.content, lfs[1]!, {});
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(log.path);
    const repo = m === null ? undefined : this.repos.get(m[1]!);
    if (
      m === null ||
      repo === undefined ||
      (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`)
    )
      return reply(401, {
        'x-error-code': 'RepoNotFound',
        'x-error-message': 'Invalid username or password.',
      });
    const [, , revision, filePath] = m;
    if (revision !== 'main' && revision !== repo.commit)
      return reply(404, { 'x-error-code': 'RevisionNotFound', 'x-repo-commit': repo.commit });
    const file = repo.files.get(filePath!);
    if (file === undefined)
      return reply(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': repo.commit });
    const meta = { 'x-repo-commit': repo.commit };
    if (file.lfs) {
      const sha = sha256(file.content);
      return reply(302, {
        ...meta,
        location: `${this.cdnUrl}/lfs/${sha}`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': file.content.length,
        etag: `"${gitSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\n`))}"`,
        'content-length': 0,
      });
    }
    return this.sendBytes(req, res, log, file.content, gitSha1(file.content), {
      ...meta,
      etag: `"${gitSha1(file.content)}"`,
    });
  }

  private sendBytes(
    req: IncomingMessage,
    res: ServerResponse,
    log: LoggedRequest,
    content: Buffer,
    etag: string,
    headers: Record<string, string>,
  ): void {
    let fault = this.faults.get(etag);
    if (req.method === 'GET' && fault !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.delete(etag);
    } else fault = undefined;
    let body = content;
    if (fault?.corrupt === true) {
      body = Buffer.from(content);
      body[body.length >> 1]! ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let status = 200;
    const out: Record<string, string | number> = { ...headers, 'accept-ranges': 'bytes' };
    if (range !== null && fault?.ignoreRange !== true) {
      const start = Number(range[1]);
      if (start >= body.length) {
        log.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
      out['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
      body = body.subarray(start);
    }
    out['content-length'] = body.length;
    log.status = status;
    res.writeHead(status, out);
    if (req.method === 'HEAD') return void res.end();
    const cut = fault?.stallAfter ?? fault?.dropAfter;
    if (cut === undefined) {
      log.bytes += body.length;
      return void res.end(body);
    }
    // Flush the first bytes, then either fall silent or hang up.
    res.write(body.subarray(0, cut), () => {
      log.bytes += Math.min(cut, body.length);
      if (fault?.dropAfter !== undefined) res.socket?.destroy();
    });
  }

  private findBlob(sha: string): FakeFile | undefined {
    for (const repo of this.repos.values())
      for (const file of repo.files.values()) if (file.lfs && sha256(file.content) === sha) return file;
    return undefined;
  }
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The id git gives a blob, which is the ETag the hub sends for a file not stored in LFS. */
export function gitSha1(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}
