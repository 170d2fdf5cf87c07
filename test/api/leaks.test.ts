/**
 * What a server tells anonymous clients about itself (issue 13, "No leaks"): no stack traces or
 * server paths unless it runs in development mode, no absolute file locations in `Image.uri`.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicUri } from '../../src/api/image-uri.ts';
import { startTestApp, type TestApp } from './fixture.ts';

let plain: TestApp;
let dev: TestApp;

beforeAll(async () => {
  // No NODE_ENV at all, as under a bare `npm start`; the fixture passes an empty environment.
  plain = await startTestApp({ n: 2, overrides: { API_KEY: KEY } });
  dev = await startTestApp({ n: 2, index: false, overrides: { NODE_ENV: 'development' } });
});
afterAll(async () => {
  await plain?.close();
  await dev?.close();
});

const KEY = 'leaks-test-key-1';
const BROKEN = '{ searchImages(text: "a") { edges { node { id } }';

describe('error internals', () => {
  it('without NODE_ENV an error answer has no stack trace and no server path', async () => {
    const r = await plain.gql(BROKEN);
    expect(r).toEqual({
      status: 400,
      errors: [
        {
          message: 'Syntax Error: Expected Name, found <EOF>.',
          locations: [{ line: 1, column: 50 }],
          extensions: { code: 'GRAPHQL_PARSE_FAILED' },
        },
      ],
    });
  });

  it('NODE_ENV=development still shows the stack trace (the demo runs so)', async () => {
    const r = await dev.gql(BROKEN);
    const stack = (r.errors?.[0]?.extensions as { stacktrace?: string[] } | undefined)?.stacktrace;
    expect(stack?.[0]).toBe('GraphQLError: Syntax Error: Expected Name, found <EOF>.');
  });
});

describe('Image.uri', () => {
  const QUERY = '{ images(first: 2) { edges { node { uri sourcePath } } } }';

  it('shows anonymous clients the file name only, never the server path', async () => {
    const r = await plain.gql(QUERY);
    expect(r).toEqual({
      status: 200,
      data: {
        images: {
          edges: plain.manifest.map((m) => ({ node: { uri: path.basename(m.image), sourcePath: null } })),
        },
      },
    });
  });

  it('shows the operator (the API key) the stored location as sourcePath', async () => {
    const r = await plain.gql(QUERY, undefined, { authorization: `Bearer ${KEY}` });
    expect(r).toEqual({
      status: 200,
      data: {
        images: {
          edges: plain.manifest.map((m) => ({
            node: {
              uri: path.basename(m.image),
              sourcePath: pathToFileURL(path.resolve(plain.samplesDir, m.image)).toString(),
            },
          })),
        },
      },
    });
  });
});

describe('publicUri', () => {
  it('keeps remote URLs and upload names, cuts every server path to its base name', () => {
    expect(
      [
        'file:///home/alice/data/uploads/ab12',
        '/srv/images/cat.png',
        'C:\\images\\dog.png',
        'file://fileserver/share/x.jpg',
        'https://cdn.example.org/a/b.jpg',
        'upload:ab12',
      ].map(publicUri),
    ).toEqual(['ab12', 'cat.png', 'dog.png', 'x.jpg', 'https://cdn.example.org/a/b.jpg', 'upload:ab12']);
  });
});
