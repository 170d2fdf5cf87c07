/**
 * What a server tells anonymous clients about itself (issue 13, "No leaks"): no stack traces or
 * server paths unless it runs in development mode, no absolute file locations in `Image.uri`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './fixture.ts';

let plain: TestApp;
let dev: TestApp;

beforeAll(async () => {
  // No NODE_ENV at all, as under a bare `npm start`; the fixture passes an empty environment.
  plain = await startTestApp({ n: 2, index: false });
  dev = await startTestApp({ n: 2, index: false, overrides: { NODE_ENV: 'development' } });
});
afterAll(async () => {
  await plain?.close();
  await dev?.close();
});

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
