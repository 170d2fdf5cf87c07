import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';

describe('config', () => {
  it('defaults to the embedded database, the tiny profile and ./data', () => {
    const config = loadConfig({ env: {} });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.profile).toBe('tiny');
    expect(config.device).toBe('auto');
    expect(config.dataDir).toBe(`${process.cwd()}/data`);
    expect(config.paths.pg).toBe(`${process.cwd()}/data/pg`);
    expect(config.limits.maxFirst).toBe(100);
  });

  it('hides error internals unless NODE_ENV=development (a bare `npm start` is production-like)', () => {
    expect(loadConfig({ env: {} }).server.production).toBe(true);
    expect(loadConfig({ env: { NODE_ENV: 'test' } }).server.production).toBe(true);
    expect(loadConfig({ env: { NODE_ENV: 'production' } }).server.production).toBe(true);
    expect(loadConfig({ env: { NODE_ENV: 'development' } }).server.production).toBe(false);
  });

  it('derives the body limit from MAX_IMAGE_BYTES: the largest allowed image fits as base64', () => {
    const mib = 1024 * 1024;
    expect(loadConfig({ env: {} }).limits).toMatchObject({
      maxImageBytes: 25 * mib,
      maxBodyBytes: Math.ceil((25 * mib) / 3) * 4 + 64 * 1024,
    });
    expect(loadConfig({ env: { MAX_IMAGE_BYTES: '3000' } }).limits.maxBodyBytes).toBe(4000 + 65536);
    expect(
      loadConfig({ env: { MAX_IMAGE_BYTES: '3000', MAX_BODY_BYTES: '70000' } }).limits.maxBodyBytes,
    ).toBe(70000);
    expect(() =>
      loadConfig({ env: { MAX_IMAGE_BYTES: String(25 * mib), MAX_BODY_BYTES: String(20 * mib) } }),
    ).toThrow(
      'MAX_BODY_BYTES: 20971520 cannot carry an image of MAX_IMAGE_BYTES (26214400) as base64; ' +
        'it needs at least 35018072 (or leave it unset)',
    );
  });

  it('returns a frozen object, nested parts included', () => {
    const config = loadConfig({ env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(() => {
      (config.limits as { maxFirst: number }).maxFirst = 5;
    }).toThrow();
  });

  it('reports every bad setting in one message', () => {
    let error: unknown;
    try {
      loadConfig({
        env: { PORT: 'eighty', MODELS: 'huge', DEVICE: 'tpu', DATABASE_URL: 'mysql://x', API_KEY: 'short' },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    const message = (error as AppError).message;
    for (const key of ['PORT', 'MODELS', 'DEVICE', 'DATABASE_URL', 'API_KEY']) expect(message).toContain(key);
    expect((error as AppError).code).toBe('BAD_CONFIG');
    expect((error as AppError).details?.problems).toHaveLength(5);
  });

  it('lets flags override the environment', () => {
    const config = loadConfig({
      env: { DATA_DIR: '/srv/a', PORT: '1234' },
      overrides: { DATA_DIR: '/srv/b', INGEST_BATCH: 8 },
    });
    expect(config.dataDir).toBe('/srv/b');
    expect(config.server.port).toBe(1234);
    expect(config.ingest.batchSize).toBe(8);
  });

  it('parses lists and booleans', () => {
    const config = loadConfig({
      env: {
        REMOTE_IMAGE_HOSTS: 'images.example.org, cdn.example.org',
        ALLOW_UNAUTHENTICATED_MUTATIONS: 'true',
      },
    });
    expect(config.remoteImageHosts).toEqual(['images.example.org', 'cdn.example.org']);
    expect(config.auth.allowUnauthenticatedMutations).toBe(true);
  });

  it('refuses integers that are blank or not decimal, and an API_KEY of blanks', () => {
    const problems = (env: Record<string, string>): string[] => {
      try {
        loadConfig({ env });
        return [];
      } catch (e) {
        return (e as AppError).details?.problems as string[];
      }
    };
    for (const port of [' ', '0x10', '1e3', '16.0', '-0x1']) {
      const found = problems({ PORT: port });
      expect({ port, count: found.length, names: found.every((p) => p.startsWith('PORT')) }).toEqual({
        port,
        count: 1,
        names: true,
      });
    }
    expect(loadConfig({ env: { PORT: ' 8080 ' } }).server.port).toBe(8080);
    const blankKey = problems({ API_KEY: '        ' });
    expect(blankKey).toHaveLength(1);
    expect(blankKey[0]).toMatch(/^API_KEY: /);
    expect(loadConfig({ env: { API_KEY: 'abcdefgh' } }).auth.apiKey).toBe('abcdefgh');
  });
});
