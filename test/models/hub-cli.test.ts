import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { PROFILES } from '../../src/models/profiles.ts';
import { FakeHub, sha256 } from './fake-hub.ts';
import { CLIP, content, ONNX_BYTES, serveParts } from './hub-fixtures.ts';

const run = promisify(execFile);

describe('npm run models -- fetch', () => {
  let hub: FakeHub;
  let dir: string;
  beforeEach(async () => {
    hub = await new FakeHub().start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'hub-cli-'));
  });
  afterEach(async () => {
    await hub.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the real CLI (async, so this process's fake hub keeps answering); never throws. */
  async function models(args: string[], env: Record<string, string> = {}) {
    const tsx = path.resolve('node_modules/.bin/tsx');
    const childEnv = {
      PATH: process.env.PATH ?? '',
      DATA_DIR: path.join(dir, 'data'),
      HF_HOME: path.join(dir, 'hf'),
      HF_ENDPOINT: hub.url,
      LOG_LEVEL: 'silent',
      ...env,
    };
    try {
      const r = await run(tsx, [path.resolve('scripts/models.ts'), ...args], { env: childEnv });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('fills --local-dir with plain progress lines, then fills DATA_DIR from the hub cache with HF_HUB_OFFLINE', async () => {
    serveParts(hub, [PROFILES.clip.text, PROFILES.clip.image]);
    const usb = path.join(dir, 'usb');
    const r = await models(['fetch', 'clip', '--local-dir', usb]);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const onnx = PROFILES.clip.image.onnx;
    const local = path.join(usb, 'clip', 'image', ...onnx.split('/'));
    expect(r.stdout).toContain(`downloaded ${local} (${ONNX_BYTES} bytes)`);
    expect(r.stdout).toContain(`hub cache: ${path.join(dir, 'hf', 'hub')}`);
    expect(r.stdout).toContain(`copy ${path.join(usb, 'clip')} to DATA_DIR/models/ on the target machine`);
    // Not a terminal: plain progress lines instead of a bar.
    expect(r.stderr).toContain(`downloading ${CLIP}/${onnx} (0.5 MiB)`);
    expect(sha256(await readFile(local))).toBe(sha256(content(hub, CLIP, onnx)));

    hub.requests.length = 0;
    const offline = await models(['fetch', 'clip'], { HF_HUB_OFFLINE: '1' });
    expect(offline.code).toBe(0);
    const lines = offline.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('cached '))).toHaveLength(
      PROFILES.clip.text.files.length + PROFILES.clip.image.files.length,
    );
    expect(hub.requests).toEqual([]);
  });

  it('exits 2 (could not run) with the stable error code and the HF_TOKEN fix when the hub refuses the repo', async () => {
    const r = await models(['fetch', 'clip']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `error [HUB_UNAUTHORIZED]: Cannot fetch the "clip" model profile: HTTP 401 for ${hub.url}/${CLIP}/`,
    );
    expect(r.stderr).toContain('set HF_TOKEN');
  });
});

describe('hub settings', () => {
  it('default like huggingface_hub: HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub', () => {
    const hubOf = (env: Record<string, string>) => loadConfig({ env }).hub;
    expect(hubOf({})).toEqual({
      endpoint: 'https://huggingface.co',
      token: undefined,
      tokenFile: path.join(os.homedir(), '.cache', 'huggingface', 'token'),
      cacheDir: path.join(os.homedir(), '.cache', 'huggingface', 'hub'),
      offline: false,
      stallTimeoutMs: 10_000,
    });
    expect(hubOf({ XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/x/huggingface/hub');
    expect(hubOf({ XDG_CACHE_HOME: '/x', HF_HOME: '/h' })).toMatchObject({
      cacheDir: '/h/hub',
      tokenFile: '/h/token',
    });
    expect(hubOf({ HF_TOKEN_PATH: '/t/tok', HUGGING_FACE_HUB_TOKEN: 'legacy' })).toMatchObject({
      tokenFile: '/t/tok',
      token: 'legacy',
    });
    expect(hubOf({ HF_HOME: '/h', HF_HUB_CACHE: '~/c' }).cacheDir).toBe(path.join(os.homedir(), 'c'));
    expect(hubOf({ HF_ENDPOINT: 'http://mirror:8080/', HF_HUB_OFFLINE: 'YES', HF_TOKEN: 't' })).toMatchObject(
      {
        endpoint: 'http://mirror:8080',
        offline: true,
        token: 't',
      },
    );
  });
});
