import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import type { FetchProfileOptions } from '../../src/models/hub.ts';
import { PROFILES, type ModelPart } from '../../src/models/profiles.ts';
import { FakeHub, gitSha1, sha256, type FakeFile } from './fake-hub.ts';

/** Stand-in repos for the hub tests, built from the real profiles' repo names and file lists. */

export const CLIP = PROFILES.clip.text.repo;
export const COMMIT = 'c0ffee0000000000000000000000000000000001';
/** Big enough to arrive in several chunks, small enough for a fast test. */
export const ONNX_BYTES = 512 * 1024;

/** No waiting between resumptions; a stall timeout no healthy local transfer comes near. */
export const FAST: FetchProfileOptions = { retryDelayMs: 0, stallTimeoutMs: 5000 };

export interface FakeHubContext {
  hub: FakeHub;
  /** Temp folder: DATA_DIR is `<dir>/data`, HF_HOME `<dir>/hf`. */
  dir: string;
  /** A config pointing at the fake hub, with `extra` settings on top. */
  config(extra?: Record<string, string>): Readonly<Config>;
}

/** A fresh fake hub and temp folder per test, torn down after it. */
export function useFakeHub(): FakeHubContext {
  const ctx = {
    config(extra: Record<string, string> = {}) {
      const env = {
        DATA_DIR: path.join(ctx.dir, 'data'),
        HF_HOME: path.join(ctx.dir, 'hf'),
        HF_ENDPOINT: ctx.hub.url,
      };
      return loadConfig({ env: { ...env, ...extra } });
    },
  } as FakeHubContext;
  beforeEach(async () => {
    ctx.hub = await new FakeHub().start();
    ctx.dir = await mkdtemp(path.join(os.tmpdir(), 'hub-'));
  });
  afterEach(async () => {
    await ctx.hub.stop();
    await rm(ctx.dir, { recursive: true, force: true });
  });
  return ctx;
}

/** The URL of a port that was just free: connecting is refused at once, like an offline machine. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Deterministic stand-in contents: JSON files are small git files, ONNX graphs LFS files. */
export function fakeFile(name: string, seed: string): FakeFile {
  if (!name.endsWith('.onnx')) return { content: Buffer.from(JSON.stringify({ name, seed })), lfs: false };
  // xorshift32 seeded by the name: distinct bytes per file, cheap to make.
  let x = createHash('sha256').update(`${seed}/${name}`).digest().readUInt32LE(0) | 1;
  const content = Buffer.alloc(ONNX_BYTES);
  for (let i = 0; i < content.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    content.writeInt32LE(x | 0, i);
  }
  return { content, lfs: true };
}

/** The commit the fake hub gives a part's repo: the one the part pins, else COMMIT. */
export function commitOf(part: ModelPart): string {
  return /^[0-9a-f]{40}$/.test(part.revision) ? part.revision : COMMIT;
}

/** The clip profile's parts at another revision (the tests of branch behaviour use `main`). */
export function clipAt(revision: string): Record<'text' | 'image', ModelPart> {
  return { text: { ...PROFILES.clip.text, revision }, image: { ...PROFILES.clip.image, revision } };
}

/** The fake hub serves each repo of `parts` with exactly the files the parts name. */
export function serveParts(hub: FakeHub, parts: readonly ModelPart[], token?: string): void {
  for (const part of parts) {
    const repo = hub.repos.get(part.repo) ?? {
      commit: commitOf(part),
      files: new Map<string, FakeFile>(),
      token,
    };
    for (const file of part.files) repo.files.set(file, fakeFile(file, part.repo));
    hub.addRepo(part.repo, repo);
  }
}

export function content(hub: FakeHub, repo: string, file: string): Buffer {
  return hub.repos.get(repo)!.files.get(file)!.content;
}

export async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** `.../models/<profile>/<part>/onnx/x.onnx` -> `onnx/x.onnx`, the file's path in its repo. */
export function repoPath(local: string): string {
  const parts = local.split(path.sep);
  const at = parts.lastIndexOf('clip');
  return parts.slice(at + 2).join('/');
}

/** A file named by both parts of one repo is downloaded once, then taken from the cache. */
export function firstDownloadedThenCached(parts: Record<'text' | 'image', ModelPart>): string[] {
  const seen = new Set<string>();
  return [...parts.text.files, ...parts.image.files].map((f) => {
    const first = !seen.has(f);
    seen.add(f);
    return first ? 'downloaded' : 'cached';
  });
}

export function privateParts(): Record<'text' | 'image', ModelPart> {
  return {
    text: { ...PROFILES.clip.text, repo: 'acme/private-clip', revision: 'main' },
    image: { ...PROFILES.clip.image, repo: 'acme/private-clip', revision: 'main' },
  };
}

/** Writes a repo the way huggingface_hub leaves it: blobs by etag, snapshot symlinks, a ref. */
export async function fillCacheLikePython(
  cacheDir: string,
  part: ModelPart,
  commit: string,
  ref = false,
): Promise<void> {
  const repoDir = path.join(cacheDir, `models--${part.repo.replace('/', '--')}`);
  for (const file of part.files) {
    const { content: bytes, lfs } = fakeFile(file, part.repo);
    const etag = lfs ? sha256(bytes) : gitSha1(bytes);
    await mkdir(path.join(repoDir, 'blobs'), { recursive: true });
    await writeFile(path.join(repoDir, 'blobs', etag), bytes);
    const pointer = path.join(repoDir, 'snapshots', commit, ...file.split('/'));
    await mkdir(path.dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    await symlink(path.relative(path.dirname(pointer), path.join(repoDir, 'blobs', etag)), pointer);
  }
  if (ref) {
    await mkdir(path.join(repoDir, 'refs'), { recursive: true });
    await writeFile(path.join(repoDir, 'refs', 'main'), commit);
  }
}
