import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { fetchRemoteImage, isPrivateAddress } from '../../src/search/remote-image.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const Q = `query ($i: ImageInput!) { searchCaptions(image: $i, first: 3) { edges { score node { id } } } }`;

let png: Buffer;
let imageServer: http.Server;
let imagePort: number;
let secret: string;

/** A small image host: /img.png, redirects, a slow endpoint. */
async function startImageServer(): Promise<void> {
  imageServer = http.createServer((req, res) => {
    if (req.url === '/img.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    if (req.url === '/same-origin-redirect') return void res.writeHead(302, { location: '/img.png' }).end();
    if (req.url === '/elsewhere')
      return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' }).end();
    if (req.url === '/slow') return void setTimeout(() => res.writeHead(200).end(png), 3000);
    if (req.url === '/huge') {
      res.writeHead(200, { 'content-type': 'image/png' });
      return void res.end(Buffer.alloc(300_000));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => imageServer.listen(0, '127.0.0.1', r));
  imagePort = (imageServer.address() as AddressInfo).port;
}

describe('remote URLs', () => {
  let exact: TestApp;
  let wildcard: TestApp;
  let none: TestApp;

  beforeAll(async () => {
    none = await startTestApp({ n: 6 });
    png = await readFile(path.join(none.samplesDir, none.manifest[0]!.image));
    await startImageServer();
    exact = await startTestApp({
      n: 6,
      overrides: { REMOTE_IMAGE_HOSTS: '127.0.0.1', REQUEST_TIMEOUT_MS: 1000, MAX_IMAGE_BYTES: 200_000 },
    });
    wildcard = await startTestApp({ n: 6, overrides: { REMOTE_IMAGE_HOSTS: '*' } });
  });
  afterAll(async () => {
    await Promise.all([exact?.close(), wildcard?.close(), none?.close()]);
    imageServer?.close();
  });

  it('are refused when no host is allowlisted', async () => {
    const r = await none.gql(Q, { i: { url: `http://127.0.0.1:${imagePort}/img.png` } });
    expect(codes(r)).toEqual(['FORBIDDEN']);
    expect(r.errors![0]!.message).toMatch(/REMOTE_IMAGE_HOSTS/);
  });

  it('are fetched from an exactly allowlisted host, following same-origin redirects', async () => {
    const byUrl = await exact.gql<{ searchCaptions: { edges: { node: { id: string } }[] } }>(Q, {
      i: { url: `http://127.0.0.1:${imagePort}/img.png` },
    });
    expect(byUrl.errors).toBeUndefined();
    const byBytes = await exact.gql<{ searchCaptions: { edges: { node: { id: string } }[] } }>(Q, {
      i: { base64: png.toString('base64') },
    });
    expect(byUrl.data!.searchCaptions.edges).toEqual(byBytes.data!.searchCaptions.edges);
    const redirected = await exact.gql(Q, {
      i: { url: `http://127.0.0.1:${imagePort}/same-origin-redirect` },
    });
    expect(redirected.errors).toBeUndefined();
  });

  it('refuse redirects to another origin, slow hosts, oversized bodies and non-http schemes', async () => {
    expect(codes(await exact.gql(Q, { i: { url: `http://127.0.0.1:${imagePort}/elsewhere` } }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(codes(await exact.gql(Q, { i: { url: `http://127.0.0.1:${imagePort}/slow` } }))).toEqual([
      'TIMEOUT',
    ]);
    expect(codes(await exact.gql(Q, { i: { url: `http://127.0.0.1:${imagePort}/huge` } }))).toEqual([
      'LIMIT_EXCEEDED',
    ]);
    expect(codes(await exact.gql(Q, { i: { url: 'file:///etc/passwd' } }))).toEqual(['INVALID_INPUT']);
    expect(
      codes(await exact.gql(Q, { i: { url: `http://user:pw@127.0.0.1:${imagePort}/img.png` } })),
    ).toEqual(['INVALID_INPUT']);
    expect(codes(await exact.gql(Q, { i: { url: 'not a url' } }))).toEqual(['INVALID_INPUT']);
  });

  it('a wildcard allowlist never reaches private or loopback addresses (no SSRF)', async () => {
    for (const url of [
      `http://127.0.0.1:${imagePort}/img.png`,
      `http://localhost:${imagePort}/img.png`,
      `http://[::1]:${imagePort}/img.png`,
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.1/x.png',
      `http://0x7f000001:${imagePort}/img.png`,
      `http://2130706433:${imagePort}/img.png`,
    ]) {
      const r = await wildcard.gql(Q, { i: { url } });
      expect(codes(r), url).toEqual(['FORBIDDEN']);
    }
  });

  it('classifies addresses', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'])
      expect(isPrivateAddress(a), a).toBe(false);
  });
});

describe('server paths', () => {
  let t: TestApp;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp({ n: 4, overrides: { LOCAL_IMAGE_ROOTS: '' } });
    root = path.join(t.dataDir, 'allowed');
    await mkdir(path.join(root, 'sub'), { recursive: true });
    png = await readFile(path.join(t.samplesDir, t.manifest[0]!.image));
    await writeFile(path.join(root, 'sub', 'ok.png'), png);
    secret = path.join(t.dataDir, 'secret.png');
    await writeFile(secret, png);
    await symlink(secret, path.join(root, 'link.png'));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('are refused when no root is configured', async () => {
    const r = await t.gql(Q, { i: { path: path.join(root, 'sub', 'ok.png') } });
    expect(codes(r)).toEqual(['FORBIDDEN']);
    expect(r.errors![0]!.message).toMatch(/LOCAL_IMAGE_ROOTS/);
  });

  it('are read inside an allowed root, and never outside it', async () => {
    const allowed = await startTestApp({ n: 4, overrides: { LOCAL_IMAGE_ROOTS: root } });
    try {
      const ok = await allowed.gql(Q, { i: { path: path.join(root, 'sub', 'ok.png') } });
      expect(ok.errors).toBeUndefined();
      expect(codes(await allowed.gql(Q, { i: { path: 'sub/ok.png' } }))).toEqual([]);
      for (const p of [
        secret,
        path.join(root, '..', 'secret.png'),
        `${root}/sub/../../secret.png`,
        '../secret.png',
        '/etc/passwd',
        path.join(root, 'link.png'),
        `${root}-evil/x.png`,
      ]) {
        expect(codes(await allowed.gql(Q, { i: { path: p } })), p).toEqual(['FORBIDDEN']);
      }
      expect(codes(await allowed.gql(Q, { i: { path: path.join(root, 'missing.png') } }))).toEqual([
        'NOT_FOUND',
      ]);
      expect(codes(await allowed.gql(Q, { i: { path: path.join(root, 'sub') } }))).toEqual(['INVALID_INPUT']);
    } finally {
      await allowed.close();
    }
  });
});

describe('remote image deadline (issue 13, item 5)', () => {
  /** A host that sends headers, then one byte a second of a 60-byte body; it notes when its socket closes. */
  async function dripServer() {
    const state = { sent: 0, closed: false, server: http.createServer() };
    state.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': '60' });
      const drip = setInterval(() => {
        res.write(Buffer.alloc(1));
        state.sent++;
      }, 1000);
      req.socket.on('close', () => {
        state.closed = true;
        clearInterval(drip);
      });
    });
    await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/drip.png`;
    return { state, url, close: () => new Promise((r) => state.server.close(r)) };
  }

  it('a host dripping one byte a second is cut off at the total deadline, and the socket is closed', async () => {
    const drip = await dripServer();
    try {
      await expect(
        fetchRemoteImage(drip.url, { allowedHosts: ['127.0.0.1'], maxBytes: 1000, timeoutMs: 1500 }),
      ).rejects.toMatchObject({ code: 'TIMEOUT', message: 'Fetching the image took longer than 1500 ms' });
      await expect.poll(() => drip.state.closed, { timeout: 5000 }).toBe(true);
      // Answered (and hung up) while the body was still coming, not when it ended 60 s later.
      expect(drip.state.sent).toBeLessThan(60);
    } finally {
      await drip.close();
    }
  });

  it("the caller's signal (the request timed out) stops the fetch with its own reason", async () => {
    const drip = await dripServer();
    try {
      const controller = new AbortController();
      const fetching = fetchRemoteImage(drip.url, {
        allowedHosts: ['127.0.0.1'],
        maxBytes: 1000,
        timeoutMs: 60_000,
        signal: controller.signal,
      });
      await expect.poll(() => drip.state.sent, { timeout: 10_000 }).toBeGreaterThan(0);
      controller.abort(new AppError('CANCELLED', 'client left'));
      await expect(fetching).rejects.toMatchObject({ code: 'CANCELLED' });
      await expect.poll(() => drip.state.closed, { timeout: 5000 }).toBe(true);
    } finally {
      await drip.close();
    }
  });
});
