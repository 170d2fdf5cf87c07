import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fetchProfile } from '../../src/models/hub.ts';
import { PROFILES } from '../../src/models/profiles.ts';
import { sha256 } from './fake-hub.ts';
import { CLIP, content, FAST, ONNX_BYTES, rejection, serveParts, useFakeHub } from './hub-fixtures.ts';

/** Interrupted downloads: what is on disk is kept and the next request asks only for the rest. */
describe('fetchProfile resuming downloads from a fake Hugging Face hub', () => {
  const ctx = useFakeHub();

  it('resumes a stalled transfer with a Range request once the stall timeout fires', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const onnx = PROFILES.clip.text.onnx;
    const sha = sha256(content(ctx.hub, CLIP, onnx));
    // One small write arrives as one chunk, so the stall timer can only fire after all of it.
    const cut = 16_000;
    ctx.hub.fault(sha, { stallAfter: cut });
    const results = await fetchProfile(ctx.config(), 'clip', { ...FAST, stallTimeoutMs: 500, retries: 2 });

    const gets = ctx.hub.gets(`/lfs/${sha}`);
    expect(gets.map((g) => [g.range, g.status, g.bytes])).toEqual([
      [undefined, 200, cut],
      [`bytes=${cut}-`, 206, ONNX_BYTES - cut],
    ]);
    expect(gets[0]!.bytes + gets[1]!.bytes).toBeLessThan(2 * ONNX_BYTES);
    const fetched = results.find((r) => r.path.endsWith(path.join('text', ...onnx.split('/'))))!;
    expect(fetched).toMatchObject({ status: 'downloaded', bytes: ONNX_BYTES, resumedFrom: 0 });
    expect(sha256(await readFile(fetched.path))).toBe(sha);
  });

  it('keeps the partial file when the connection drops, and the next run resumes it', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const onnx = PROFILES.clip.image.onnx;
    const sha = sha256(content(ctx.hub, CLIP, onnx));
    const cut = 200_000;
    ctx.hub.fault(sha, { dropAfter: cut });
    const error = await rejection(fetchProfile(ctx.config(), 'clip', { ...FAST, retries: 0 }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toContain(`closed at ${cut} of ${ONNX_BYTES} bytes`);
    const incomplete = path.join(
      ctx.dir,
      'hf',
      'hub',
      'models--Xenova--clip-vit-base-patch32',
      'blobs',
      `${sha}.incomplete`,
    );
    expect((await stat(incomplete)).size).toBe(cut);

    const results = await fetchProfile(ctx.config(), 'clip', FAST);
    const resumed = results.find((r) => r.path.endsWith(path.join('image', ...onnx.split('/'))))!;
    expect(resumed).toMatchObject({ status: 'downloaded', bytes: ONNX_BYTES - cut, resumedFrom: cut });
    expect(ctx.hub.gets(`/lfs/${sha}`).map((g) => [g.range, g.status, g.bytes])).toEqual([
      [undefined, 200, cut],
      [`bytes=${cut}-`, 206, ONNX_BYTES - cut],
    ]);
    expect(sha256(await readFile(resumed.path))).toBe(sha);
    expect(existsSync(incomplete)).toBe(false);
  });

  it('gives up as DOWNLOAD_STALLED when every try stalls, keeping what arrived for the next run', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const sha = sha256(content(ctx.hub, CLIP, PROFILES.clip.text.onnx));
    ctx.hub.fault(sha, { stallAfter: 100_000, times: 2 });
    const error = await rejection(
      fetchProfile(ctx.config(), 'clip', { ...FAST, stallTimeoutMs: 300, retries: 1 }),
    );
    expect(error.code).toBe('DOWNLOAD_STALLED');
    expect(error.message).toContain(
      `No data from ${ctx.hub.url}/lfs/${sha} for 0.3 s: the download stalled.`,
    );
    expect(error.message).toContain('it resumes where it stopped');
    expect(ctx.hub.gets(`/lfs/${sha}`).map((g) => g.range)).toEqual([undefined, 'bytes=100000-']);
    const blobs = path.join(ctx.dir, 'hf', 'hub', 'models--Xenova--clip-vit-base-patch32', 'blobs');
    expect((await stat(path.join(blobs, `${sha}.incomplete`))).size).toBe(200_000);
  });

  it('finishes a partial file that is already complete without asking for an empty range', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const onnx = PROFILES.clip.text.onnx;
    const bytes = content(ctx.hub, CLIP, onnx);
    const blobs = path.join(ctx.dir, 'hf', 'hub', 'models--Xenova--clip-vit-base-patch32', 'blobs');
    await mkdir(blobs, { recursive: true });
    await writeFile(path.join(blobs, `${sha256(bytes)}.incomplete`), bytes);
    const results = await fetchProfile(ctx.config(), 'clip', FAST);
    expect(results.find((r) => r.path.endsWith('text_model.onnx'))).toMatchObject({
      status: 'downloaded',
      bytes: 0,
      resumedFrom: ONNX_BYTES,
    });
    expect(ctx.hub.gets(`/lfs/${sha256(bytes)}`)).toEqual([]);
    expect(existsSync(path.join(blobs, sha256(bytes)))).toBe(true);
  });

  it('starts over when the server ignores the Range header (200 instead of 206)', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const sha = sha256(content(ctx.hub, CLIP, PROFILES.clip.text.onnx));
    ctx.hub.fault(sha, { dropAfter: 50_000 });
    await rejection(fetchProfile(ctx.config(), 'clip', { ...FAST, retries: 0 }));
    ctx.hub.fault(sha, { ignoreRange: true });
    const results = await fetchProfile(ctx.config(), 'clip', FAST);
    expect(ctx.hub.gets(`/lfs/${sha}`).map((g) => [g.range, g.status])).toEqual([
      [undefined, 200],
      ['bytes=50000-', 200],
    ]);
    const onnxResult = results.find((r) => r.path.endsWith('text_model.onnx'))!;
    expect(sha256(await readFile(onnxResult.path))).toBe(sha);
  });
});
