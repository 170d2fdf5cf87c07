/**
 * Issue 13, item 6: the request's AbortSignal stops a mutation before it commits, and an
 * Idempotency-Key makes a retried mutation write once. Real HTTP, real PostgreSQL (a row lock held
 * by the test stalls the mutation past its timeout deterministically) and embedded PGlite.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { announceSkip, postgresBackend } from '../setup/databases.ts';
import { startTestApp, writerOf, type TestApp } from './fixture.ts';
import { hnswOf } from '../setup/hnsw-of.ts';

const ADD_CAPTIONS = `mutation ($id: ID!, $c: [String!]!) { addCaptions(imageId: $id, captions: $c) { id text } }`;

interface Answer {
  status: number;
  replayed: string | null;
  body: {
    data?: { addCaptions: { id: string; text: string }[] } | null;
    errors?: { extensions: { code: string } }[];
  };
}

async function post(t: TestApp, variables: Record<string, unknown>, key?: string): Promise<Answer> {
  const res = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify({ query: ADD_CAPTIONS, variables }),
  });
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed'),
    body: (await res.json()) as Answer['body'],
  };
}

const errorCodes = (a: Answer) => (a.body.errors ?? []).map((e) => e.extensions.code);

async function captionCount(t: TestApp, imageId: number): Promise<number> {
  const [row] = await t.app.db.query<{ n: string }>(
    'SELECT count(*) AS n FROM captions WHERE image_id = $1',
    [imageId],
  );
  return Number(row!.n);
}

async function firstImageId(t: TestApp): Promise<number> {
  const [row] = await t.app.db.query<{ id: number }>('SELECT id FROM images ORDER BY id LIMIT 1');
  return Number(row!.id);
}

describe('Idempotency-Key on embedded PGlite', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ n: 4, overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' } });
  });
  afterAll(async () => t?.close());

  it('a retried addCaptions with the same key adds its captions once and answers the first result', async () => {
    const id = await firstImageId(t);
    const before = await captionCount(t, id);
    const vars = { id: String(id), c: ['a retried note', 'another retried note'] };
    const first = await post(t, vars, 'retry-1');
    const second = await post(t, vars, 'retry-1');
    expect(first.status).toBe(200);
    expect(first.replayed).toBeNull();
    expect(first.body.data!.addCaptions.map((c) => c.text)).toEqual(vars.c);
    expect(second).toEqual({ ...first, replayed: 'true' });
    expect(await captionCount(t, id)).toBe(before + 2);
    // Without a key each request is its own.
    await post(t, vars);
    expect(await captionCount(t, id)).toBe(before + 4);
  });

  it('the same key with a different request is a client error (422) and writes nothing', async () => {
    const id = await firstImageId(t);
    await post(t, { id: String(id), c: ['first body'] }, 'reuse-1');
    const before = await captionCount(t, id);
    const other = await post(t, { id: String(id), c: ['second body'] }, 'reuse-1');
    expect(other.status).toBe(422);
    expect(errorCodes(other)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(await captionCount(t, id)).toBe(before);
  });

  it('keys are scoped per operation, queries ignore them, and a malformed key is refused', async () => {
    const id = await firstImageId(t);
    const query = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'shared-key' },
      body: JSON.stringify({ query: '{ indexInfo { images } }' }),
    });
    expect(query.status).toBe(200);
    const added = await post(t, { id: String(id), c: ['scoped note'] }, 'shared-key');
    expect(added.body.data!.addCaptions).toHaveLength(1);
    const bad = await post(t, { id: String(id), c: ['x'] }, 'has space');
    expect(bad.status).toBe(400);
    expect(errorCodes(bad)).toEqual(['INVALID_INPUT']);
  });

  it('a server killed between COMMIT and storing the answer never runs the key again', async () => {
    const id = await firstImageId(t);
    const before = await captionCount(t, id);
    const vars = { id: String(id), c: ['committed, answer lost'] };
    const first = await post(t, vars, 'lost-1');
    expect(first.status).toBe(200);
    const [row] = await t.app.db.query<{ committed: boolean }>(
      `SELECT committed FROM idempotency_keys WHERE key = 'lost-1'`,
    );
    // The mutation's own transaction marked the key.
    expect(row).toEqual({ committed: true });
    // What a kill -9 after COMMIT leaves: the mark, no answer, and a claim older than any request.
    await t.app.db.query(
      `UPDATE idempotency_keys SET status = NULL, response = NULL, created_at = now() - interval '1 hour'
       WHERE key = 'lost-1'`,
    );
    const retried = await post(t, vars, 'lost-1');
    expect({ status: retried.status, codes: errorCodes(retried) }).toEqual({
      status: 409,
      codes: ['IDEMPOTENCY_ANSWER_LOST'],
    });
    expect(await captionCount(t, id)).toBe(before + 1);

    // A claim whose request died before committing anything is taken over and runs once.
    await t.app.db.query(
      `INSERT INTO idempotency_keys (scope, key, request_hash, created_at)
       SELECT scope, 'died-1', request_hash, now() - interval '1 hour' FROM idempotency_keys WHERE key = 'lost-1'`,
    );
    const takenOver = await post(t, vars, 'died-1');
    expect(takenOver.status).toBe(200);
    expect(await captionCount(t, id)).toBe(before + 2);
    expect(await post(t, vars, 'died-1')).toEqual({ ...takenOver, replayed: 'true' });
  });

  it('a keyed deleteImage commits its mark with the delete; its replay deletes nothing more', async () => {
    const DELETE = `mutation ($id: ID!) { deleteImage(id: $id) { id deleted } }`;
    // The last image: the other tests add captions to the first.
    const [last] = await t.app.db.query<{ id: number }>('SELECT id FROM images ORDER BY id DESC LIMIT 1');
    const id = String(last!.id);
    const send = async () => {
      const res = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'delete-1' },
        body: JSON.stringify({ query: DELETE, variables: { id } }),
      });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.json() };
    };
    const first = await send();
    expect(first.body).toEqual({ data: { deleteImage: { id, deleted: true } } });
    const [row] = await t.app.db.query<{ committed: boolean }>(
      `SELECT committed FROM idempotency_keys WHERE key = 'delete-1'`,
    );
    expect(row).toEqual({ committed: true });
    expect(await send()).toEqual({ ...first, replayed: 'true' });
  });

  it('an addImage aborted before it commits leaves no row, no index entry and no upload', async () => {
    const writer = writerOf(t.app);
    const [image] = await t.app.db.query<{ uri: string }>('SELECT uri FROM images ORDER BY id LIMIT 1');
    // Different bytes from any stored image: a fresh add, not a duplicate.
    const fresh = await sharp(await readFile(fileURLToPath(image!.uri)))
      .negate()
      .png()
      .toBuffer();
    const imagesBefore = await t.app.db.query('SELECT id FROM images');
    const indexBefore = hnswOf(t.app.indexes).images.size;
    const uploadsBefore = await readdir(path.join(t.dataDir, 'uploads')).catch(() => []);
    const controller = new AbortController();
    const adding = writer.addImage({
      bytes: fresh,
      captions: ['never stored'],
      metadata: {},
      options: { signal: controller.signal },
    });
    controller.abort(new AppError('TIMEOUT', 'test timeout'));
    await expect(adding).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(await t.app.db.query('SELECT id FROM images')).toEqual(imagesBefore);
    expect(hnswOf(t.app.indexes).images.size).toBe(indexBefore);
    expect(await readdir(path.join(t.dataDir, 'uploads')).catch(() => [])).toEqual(uploadsBefore);
  });
});

describe('a mutation that times out on PostgreSQL', () => {
  const skip = announceSkip(postgresBackend, 'idempotency on PostgreSQL');
  let t: TestApp;
  let locker: pg.Client;
  beforeAll(async () => {
    if (skip) return;
    t = await startTestApp({
      n: 4,
      backend: 'postgres',
      overrides: { ALLOW_UNAUTHENTICATED_MUTATIONS: 'true', REQUEST_TIMEOUT_MS: 1500 },
    });
    locker = new pg.Client({ connectionString: t.app.config.databaseUrl });
    await locker.connect();
  });
  afterAll(async () => {
    await locker?.end();
    await t?.close();
  });

  /** The claim of `key` is given back (its mutation rolled back) and nothing was written. */
  async function expectRolledBack(key: string, imageId: number, captions: number, inIndex: number) {
    await expect
      .poll(
        async () => (await locker.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key])).rowCount,
        { timeout: 20_000 },
      )
      .toBe(0);
    expect(await captionCount(t, imageId)).toBe(captions);
    expect(hnswOf(t.app.indexes).captions.size).toBe(inIndex);
  }

  it.skipIf(skip)('does not commit, and its retry with the same key adds the captions once', async () => {
    const id = await firstImageId(t);
    const before = await captionCount(t, id);
    const captionsInIndex = hnswOf(t.app.indexes).captions.size;
    const vars = { id: String(id), c: ['written once', 'also written once'] };

    // The image's row is locked: the mutation embeds, then waits inside its transaction past the
    // request timeout.
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM images WHERE id = $1 FOR UPDATE', [id]);
    const timedOut = await post(t, vars, 'slow-1');
    expect(timedOut.status).toBe(503);
    expect(errorCodes(timedOut)).toEqual(['TIMEOUT']);
    const whileRunning = await post(t, vars, 'slow-1');
    expect(whileRunning.status).toBe(409);
    expect(errorCodes(whileRunning)).toEqual(['IDEMPOTENCY_KEY_IN_USE']);
    await locker.query('COMMIT');

    // The stalled mutation now gets its lock, sees its signal aborted and rolls back; its claim is
    // released so the retry runs.
    await expectRolledBack('slow-1', id, before, captionsInIndex);

    const retried = await post(t, vars, 'slow-1');
    expect(retried.status).toBe(200);
    expect(retried.body.data!.addCaptions.map((c) => c.text)).toEqual(vars.c);
    const again = await post(t, vars, 'slow-1');
    expect(again).toEqual({ ...retried, replayed: 'true' });
    expect(await captionCount(t, id)).toBe(before + 2);
    expect(hnswOf(t.app.indexes).captions.size).toBe(captionsInIndex + 2);
  });

  it.skipIf(skip)(
    'a client that hangs up mid-mutation: it rolls back, and its retry writes once',
    async () => {
      const id = await firstImageId(t);
      const before = await captionCount(t, id);
      const captionsInIndex = hnswOf(t.app.indexes).captions.size;
      const vars = { id: String(id), c: ['sent by a client that hung up'] };

      await locker.query('BEGIN');
      await locker.query('SELECT id FROM images WHERE id = $1 FOR UPDATE', [id]);
      const client = new AbortController();
      const hungUp = fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'gone-1' },
        body: JSON.stringify({ query: ADD_CAPTIONS, variables: vars }),
        signal: client.signal,
      });
      // Wait until the mutation is inside its transaction, blocked on the row lock, then hang up.
      await expect
        .poll(
          async () =>
            Number(
              (
                await locker.query<{ n: string }>(
                  `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
                )
              ).rows[0]!.n,
            ),
          { timeout: 20_000 },
        )
        .toBeGreaterThan(0);
      client.abort();
      await expect(hungUp).rejects.toThrow();
      await locker.query('COMMIT');

      // The server saw the connection close (CANCELLED), the mutation rolled back and gave its claim back.
      await expectRolledBack('gone-1', id, before, captionsInIndex);

      const retried = await post(t, vars, 'gone-1');
      expect(retried.status).toBe(200);
      expect(await post(t, vars, 'gone-1')).toEqual({ ...retried, replayed: 'true' });
      expect(await captionCount(t, id)).toBe(before + 1);
      expect(hnswOf(t.app.indexes).captions.size).toBe(captionsInIndex + 1);
    },
  );
});
