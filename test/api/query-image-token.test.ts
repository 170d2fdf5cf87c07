import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startTestApp, type TestApp } from './fixture.ts';

/**
 * The search page's upload path (issue 14, items 4-6): the body limit carries the largest allowed
 * image as base64, an uploaded image is paged by a token instead of being sent again, and a client
 * that gives up mid-upload is a warning in the log, not an error.
 */
let t: TestApp;
const logs: { level: number; msg: string }[] = [];
const MAX_IMAGE_BYTES = 100_000;

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  t = await startTestApp({ n: 30, logger, overrides: { MAX_IMAGE_BYTES } });
});
afterAll(async () => {
  await t?.close();
});

type Edges = { edges: { score: number; node: { id: string } }[]; pageInfo: { endCursor: string } };
const SIMILAR = `query ($image: ImageInput!, $first: Int!, $after: String) {
  similarImages(image: $image, first: $first, after: $after) { edges { score node { id } } pageInfo { endCursor } }
}`;

async function similar(image: Record<string, string>, first: number, after?: string) {
  const r = await t.gql<{ similarImages: Edges }>(SIMILAR, { image, first, after });
  expect(r.errors).toBeUndefined();
  return r.data!.similarImages;
}

async function tokenFor(image: Record<string, string>): Promise<string> {
  const r = await t.gql<{ queryImageToken: string }>(
    'query ($image: ImageInput!) { queryImageToken(image: $image) }',
    {
      image,
    },
  );
  expect(r.errors).toBeUndefined();
  return r.data!.queryImageToken;
}

describe('query image tokens over the API', () => {
  it('a token searches and pages exactly as the uploaded image does', async () => {
    const bytes = await readFile(path.join(t.samplesDir, t.manifest[3]!.image));
    const base64 = bytes.toString('base64');
    const token = await tokenFor({ base64 });
    const whole = await similar({ base64 }, 20);
    const page1 = await similar({ token }, 10);
    const page2 = await similar({ token }, 10, page1.pageInfo.endCursor);
    expect([...page1.edges, ...page2.edges]).toEqual(whole.edges);

    const captions =
      'query ($image: ImageInput!) { searchCaptions(image: $image, first: 5) { edges { score node { id } } } }';
    expect((await t.gql(captions, { image: { token } })).data).toEqual(
      (await t.gql(captions, { image: { base64 } })).data,
    );
  });

  it('a token for an indexed image still leaves that image out of its own results', async () => {
    const token = await tokenFor({ id: '4' });
    const ids = (await similar({ token }, 29)).edges.map((e) => e.node.id);
    expect(ids).toHaveLength(29);
    expect(ids).not.toContain('4');
  });

  it('an unknown token is NOT_FOUND and says to send the image again', async () => {
    const r = await t.gql(SIMILAR, { image: { token: 'made-up' }, first: 5 });
    expect(codes(r)).toEqual(['NOT_FOUND']);
    expect(r.errors![0]!.message).toMatch(/send the image again/);
    expect(codes(await t.gql(SIMILAR, { image: { token: 'x', id: '1' }, first: 5 }))).toEqual([
      'INVALID_INPUT',
    ]);
  });
});

describe('limits that agree', () => {
  it('an image of MAX_IMAGE_BYTES sent as base64 passes the body limit; one byte more is refused as too large', async () => {
    const info = await t.gql<{ indexInfo: { limits: Record<string, number> } }>(
      '{ indexInfo { limits { maxImageBytes maxBodyBytes requestTimeoutMs } } }',
    );
    expect(info.data!.indexInfo.limits).toEqual({
      maxImageBytes: MAX_IMAGE_BYTES,
      maxBodyBytes: Math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 65536,
      requestTimeoutMs: 30_000,
    });
    const atLimit = Buffer.alloc(MAX_IMAGE_BYTES, 7);
    const r1 = await t.gql(SIMILAR, {
      image: { base64: `data:image/png;base64,${atLimit.toString('base64')}` },
      first: 1,
    });
    expect(codes(r1)).toEqual(['INVALID_IMAGE']); // read in full and decoded: these bytes are no image
    const over = Buffer.alloc(MAX_IMAGE_BYTES + 1, 7);
    const r2 = await t.gql(SIMILAR, { image: { base64: over.toString('base64') }, first: 1 });
    expect(codes(r2)).toEqual(['LIMIT_EXCEEDED']);
    expect(r2.errors![0]!.message).toBe(`Image is larger than ${MAX_IMAGE_BYTES} bytes`);
  });

  it('an empty image is INVALID_IMAGE: "empty", not "not valid base64"', async () => {
    const r = await t.gql(SIMILAR, { image: { base64: 'data:image/png;base64,' }, first: 1 });
    expect(codes(r)).toEqual(['INVALID_IMAGE']);
    expect(r.errors![0]!.message).toBe('The image is empty (0 bytes)');
  });
});

describe('a client that leaves mid-upload', () => {
  it('is logged once at warn, never as an unhandled error', async () => {
    const { port } = new URL(t.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"query":',
    );
    socket.destroy();
    await expect
      .poll(() => logs.filter((l) => l.msg === 'client closed the request before it was read'))
      .toHaveLength(1);
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(logs.find((l) => l.msg === 'client closed the request before it was read')!.level).toBe(40);
  });
});
