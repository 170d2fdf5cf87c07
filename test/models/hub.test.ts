import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { fetchProfile, profileFiles } from '../../src/models/hub.ts';

describe('fetchProfile', () => {
  let dataDir: string;
  let closedPort: number;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hub-'));
    // A port that was just free: connecting is refused at once, like an offline machine.
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closedPort = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('offline, names the profile, every file and where to put it by hand', async () => {
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
    const hubUrl = `http://127.0.0.1:${closedPort}`;
    const error = await fetchProfile(config, 'clip', { hubUrl }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('NETWORK');
    const message = (error as AppError).message;
    expect(message).toContain('Cannot download the "clip" model profile');
    expect(message).toMatch(/ECONNREFUSED/);
    expect(message).toContain('put them here by hand');
    for (const file of profileFiles(config, 'clip', hubUrl)) {
      expect(message).toContain(file.path);
      expect(message).toContain(file.url);
    }
    expect(message).toContain(path.join(dataDir, 'models', 'clip', 'image', 'onnx', 'vision_model.onnx'));
    expect(message).toContain('Xenova/clip-vit-base-patch32/resolve/main/onnx/text_model.onnx');
  });

  it('reports an HTTP error from the hub the same way', async () => {
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
    const notFound: typeof fetch = async () => new Response('nope', { status: 404 });
    const error = await fetchProfile(config, 'bert-resnet', { fetchImpl: notFound }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as AppError).code).toBe('NETWORK');
    expect((error as AppError).message).toMatch(
      /HTTP 404 for https:\/\/huggingface.co\/Xenova\/bert-base-uncased\/resolve\/main\/config.json/,
    );
  });

  it('downloads each file into place and keeps files already present', async () => {
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir } });
    const served: string[] = [];
    const fake: typeof fetch = async (url) => {
      served.push(String(url));
      return new Response(`content of ${String(url)}`);
    };
    const first = await fetchProfile(config, 'bert-resnet', { fetchImpl: fake });
    expect(first.map((f) => f.status)).toEqual(Array(first.length).fill('downloaded'));
    expect(served).toHaveLength(7);
    const second = await fetchProfile(config, 'bert-resnet', { fetchImpl: fake });
    expect(second.map((f) => f.status)).toEqual(Array(second.length).fill('present'));
    expect(served).toHaveLength(7);
  });
});
