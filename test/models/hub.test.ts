import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fetchProfile } from '../../src/models/hub.ts';
import { PROFILES } from '../../src/models/profiles.ts';
import { FakeHub, gitSha1, sha256 } from './fake-hub.ts';
import {
  CLIP,
  clipAt,
  closedPortUrl,
  COMMIT,
  commitOf,
  content,
  fakeFile,
  fillCacheLikePython,
  firstDownloadedThenCached,
  FAST,
  privateParts,
  rejection,
  repoPath,
  serveParts,
  useFakeHub,
} from './hub-fixtures.ts';

describe('fetchProfile against a fake Hugging Face hub', () => {
  const ctx = useFakeHub();

  it('downloads the clip profile through the LFS redirect into the hub cache layout, then links it into DATA_DIR', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const results = await fetchProfile(ctx.config(), 'clip', FAST);

    const spec = PROFILES.clip;
    const expected = (['text', 'image'] as const).flatMap((role) =>
      spec[role].files.map((file) => ({ role, file })),
    );
    // config.json is in both parts of the one repo: the second time it comes from the cache.
    const seen = new Set<string>();
    expect(results).toEqual(
      expected.map(({ role, file }) => {
        const first = !seen.has(file);
        seen.add(file);
        const bytes = content(ctx.hub, CLIP, file).length;
        return {
          path: path.join(ctx.dir, 'data', 'models', 'clip', role, ...file.split('/')),
          url: `${ctx.hub.url}/${CLIP}/resolve/${spec[role].revision}/${file}`,
          commit: commitOf(spec[role]),
          ...(first ? { status: 'downloaded', bytes, resumedFrom: 0 } : { status: 'cached' }),
        };
      }),
    );
    // Hashes, not Buffers: a deep equality over 512 KiB element by element takes seconds.
    for (const r of results)
      expect(sha256(await readFile(r.path))).toBe(sha256(content(ctx.hub, CLIP, repoPath(r.path))));

    // Python's layout: refs/<branch> -> commit; snapshots/<commit>/<path> -> relative link to blobs/<etag>.
    const repoDir = path.join(ctx.dir, 'hf', 'hub', 'models--Xenova--clip-vit-base-patch32');
    const commit = commitOf(spec.image);
    if (spec.image.revision !== commit)
      expect(await readFile(path.join(repoDir, 'refs', spec.image.revision), 'utf8')).toBe(commit);
    const onnx = spec.image.onnx;
    const pointer = path.join(repoDir, 'snapshots', commit, ...onnx.split('/'));
    expect((await lstat(pointer)).isSymbolicLink()).toBe(true);
    const sha = sha256(content(ctx.hub, CLIP, onnx));
    expect(path.resolve(path.dirname(pointer), await readlink(pointer))).toBe(
      path.join(repoDir, 'blobs', sha),
    );
    expect(existsSync(path.join(repoDir, 'blobs', gitSha1(content(ctx.hub, CLIP, 'config.json'))))).toBe(
      true,
    );

    // The bytes came from the CDN path the hub redirected to, never from the resolve URL.
    expect(ctx.hub.gets(`/lfs/${sha}`)).toHaveLength(1);
    expect(ctx.hub.gets('/resolve/').filter((g) => g.path.endsWith(onnx))).toEqual([]);

    // Sizes and ranges are about stored bytes: every request asks for them uncompressed.
    expect(new Set(ctx.hub.requests.map((r) => r.acceptEncoding))).toEqual(new Set(['identity']));

    ctx.hub.requests.length = 0;
    const again = await fetchProfile(ctx.config(), 'clip', FAST);
    expect(again.map((r) => r.status)).toEqual(results.map(() => 'present'));
    expect(ctx.hub.requests).toEqual([]);
  });

  it('sends HF_TOKEN as a bearer token, and without it says the repo is private, gated or missing and to set HF_TOKEN', async () => {
    const parts = privateParts();
    serveParts(ctx.hub, [parts.text, parts.image], 'hf_secret');
    const error = await rejection(fetchProfile(ctx.config(), 'clip', { ...FAST, parts }));
    expect(error.code).toBe('HUB_UNAUTHORIZED');
    expect(error.message).toContain(`HTTP 401 for ${ctx.hub.url}/acme/private-clip/resolve/main/config.json`);
    expect(error.message).toContain('If the repo is private or gated, set HF_TOKEN');

    // LFS bytes come from another host (a signed CDN URL): like huggingface_hub, no token goes there.
    const cdn = await new FakeHub().start();
    try {
      cdn.repos = ctx.hub.repos;
      ctx.hub.cdnUrl = cdn.url;
      const results = await fetchProfile(ctx.config({ HF_TOKEN: 'hf_secret' }), 'clip', { ...FAST, parts });
      expect(results.map((r) => r.status)).toEqual(firstDownloadedThenCached(parts));
      expect(new Set(ctx.hub.requests.slice(1).map((r) => r.authorization))).toEqual(
        new Set(['Bearer hf_secret']),
      );
      expect(cdn.requests.map((r) => [r.method, r.authorization])).toEqual(
        [parts.text.onnx, parts.image.onnx].map(() => ['GET', undefined]),
      );
    } finally {
      await cdn.stop();
    }
  });

  it('without HF_TOKEN, sends the token `hf auth login` saved in $HF_HOME/token', async () => {
    const parts = privateParts();
    serveParts(ctx.hub, [parts.text, parts.image], 'hf_saved');
    await mkdir(path.join(ctx.dir, 'hf'), { recursive: true });
    await writeFile(path.join(ctx.dir, 'hf', 'token'), 'hf_saved\n');
    const results = await fetchProfile(ctx.config(), 'clip', { ...FAST, parts });
    expect(results.map((r) => r.status)).toEqual(firstDownloadedThenCached(parts));
    expect(new Set(ctx.hub.requests.map((r) => r.authorization))).toEqual(new Set(['Bearer hf_saved']));
  });

  it('tells a wrong revision and a missing file apart (404) and names the profile fix', async () => {
    const main = clipAt('main');
    serveParts(ctx.hub, [main.text]);
    const parts = { text: { ...main.text, revision: 'v9' }, image: main.image };
    const badRevision = await rejection(fetchProfile(ctx.config(), 'clip', { ...FAST, parts }));
    expect(badRevision.code).toBe('HUB_NOT_FOUND');
    expect(badRevision.message).toContain(`revision "v9" does not exist in ${CLIP}`);
    expect(badRevision.message).toContain('src/models/profiles.ts');

    const missing = { text: main.text, image: { ...main.image, files: ['config.json', 'nope.onnx'] } };
    const badFile = await rejection(fetchProfile(ctx.config(), 'clip', { ...FAST, parts: missing }));
    expect(badFile.code).toBe('HUB_NOT_FOUND');
    expect(badFile.message).toContain(`nope.onnx does not exist in ${CLIP} at revision "main"`);
    expect(badFile.details?.missing).toEqual([
      path.join(ctx.dir, 'data', 'models', 'clip', 'image', 'nope.onnx'),
    ]);
  });

  it('offline, says so and lists every missing file with its URL', async () => {
    const offlineUrl = await closedPortUrl();
    const error = await rejection(
      fetchProfile(ctx.config({ HF_ENDPOINT: offlineUrl }), 'clip', { ...FAST, parts: clipAt('main') }),
    );
    expect(error.code).toBe('NETWORK');
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).toContain('this machine looks offline, or HF_ENDPOINT is wrong');
    for (const role of ['text', 'image'] as const)
      for (const file of PROFILES.clip[role].files) {
        expect(error.message).toContain(
          path.join(ctx.dir, 'data', 'models', 'clip', role, ...file.split('/')),
        );
        expect(error.message).toContain(`${offlineUrl}/${CLIP}/resolve/main/${file}`);
      }
  });

  it('refuses a body whose sha256 is not the ETag, and leaves nothing behind', async () => {
    const parts = clipAt('main');
    serveParts(ctx.hub, [parts.text, parts.image]);
    const onnx = parts.text.onnx;
    const sha = sha256(content(ctx.hub, CLIP, onnx));
    ctx.hub.fault(sha, { corrupt: true });
    const error = await rejection(fetchProfile(ctx.config(), 'clip', { ...FAST, parts }));
    expect(error.code).toBe('DOWNLOAD_CORRUPT');
    expect(error.message).toContain(`${CLIP}/${onnx} (revision main) arrived corrupt: its sha256 is `);
    expect(error.message).toContain(`the hub's ETag says ${sha}`);
    const blobs = path.join(ctx.dir, 'hf', 'hub', 'models--Xenova--clip-vit-base-patch32', 'blobs');
    expect(existsSync(path.join(blobs, sha))).toBe(false);
    expect(existsSync(path.join(blobs, `${sha}.incomplete`))).toBe(false);
    expect(existsSync(path.join(ctx.dir, 'data', 'models', 'clip', 'text', ...onnx.split('/')))).toBe(false);
  });

  it('reuses a hub cache that Python filled, with no request at all for a pinned commit', async () => {
    const parts = clipAt(COMMIT);
    await fillCacheLikePython(path.join(ctx.dir, 'hf', 'hub'), parts.text, COMMIT);
    await fillCacheLikePython(path.join(ctx.dir, 'hf', 'hub'), parts.image, COMMIT);
    const results = await fetchProfile(ctx.config(), 'clip', { ...FAST, parts });
    expect(results.map((r) => r.status)).toEqual(results.map(() => 'cached'));
    expect(ctx.hub.requests).toEqual([]);
    for (const r of results)
      expect(sha256(await readFile(r.path))).toBe(sha256(fakeFile(repoPath(r.path), CLIP).content));

    // A branch revision asks the hub which commit it is now (HEAD only), then downloads nothing.
    const main = clipAt('main');
    serveParts(ctx.hub, [main.text, main.image]);
    await fillCacheLikePython(path.join(ctx.dir, 'hf', 'hub'), main.text, COMMIT, true);
    await fillCacheLikePython(path.join(ctx.dir, 'hf', 'hub'), main.image, COMMIT, true);
    const branch = await fetchProfile(ctx.config({ DATA_DIR: path.join(ctx.dir, 'data2') }), 'clip', {
      ...FAST,
      parts: main,
    });
    expect(branch.map((r) => r.status)).toEqual(branch.map(() => 'cached'));
    expect(new Set(ctx.hub.requests.map((r) => r.method))).toEqual(new Set(['HEAD']));

    ctx.hub.requests.length = 0;
    const offline = await fetchProfile(
      ctx.config({ DATA_DIR: path.join(ctx.dir, 'data3'), HF_HUB_OFFLINE: '1' }),
      'clip',
      { ...FAST, parts: main },
    );
    expect(offline.map((r) => r.status)).toEqual(branch.map(() => 'cached'));
    expect(ctx.hub.requests).toEqual([]);

    // The hub unreachable: like huggingface_hub, the commit refs/main last named will do.
    const unreachable = await fetchProfile(
      ctx.config({ DATA_DIR: path.join(ctx.dir, 'data4'), HF_ENDPOINT: await closedPortUrl() }),
      'clip',
      { ...FAST, parts: main },
    );
    expect(unreachable.map((r) => [r.status, r.commit])).toEqual(branch.map(() => ['cached', COMMIT]));
  });

  it('with HF_HUB_OFFLINE and an empty cache, fails without a request and says why', async () => {
    const error = await rejection(
      fetchProfile(ctx.config({ HF_HUB_OFFLINE: 'true' }), 'clip', { ...FAST, parts: clipAt('main') }),
    );
    expect(error.code).toBe('MODEL_MISSING');
    expect(error.message).toContain(
      `HF_HUB_OFFLINE is set and ${CLIP}/config.json (revision main) is not in the hub cache`,
    );
    expect(ctx.hub.requests).toEqual([]);
  });

  it('--local-dir puts real copies under <dir>/<profile>/<part> for another machine', async () => {
    serveParts(ctx.hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const localDir = path.join(ctx.dir, 'usb');
    const results = await fetchProfile(ctx.config(), 'clip', { ...FAST, localDir });
    for (const r of results) {
      expect(r.path.startsWith(path.join(localDir, 'clip') + path.sep)).toBe(true);
      const s = await lstat(r.path);
      expect([s.isFile(), s.nlink]).toEqual([true, 1]);
    }
    const onnx = PROFILES.clip.image.onnx;
    expect(sha256(await readFile(path.join(localDir, 'clip', 'image', ...onnx.split('/'))))).toBe(
      sha256(content(ctx.hub, CLIP, onnx)),
    );
    expect(existsSync(path.join(ctx.dir, 'data', 'models', 'clip'))).toBe(false);
  });
});
