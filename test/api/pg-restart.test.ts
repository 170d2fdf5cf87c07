/**
 * Issue 9 item 14: PostgreSQL restarting while mutations are in flight must not crash the API
 * server. A server of this test's own is stopped (`-m fast`: 57P01; `-m immediate`: the
 * connection just drops) while requests wait inside it, then started again.
 */
import { hnswOf } from '../setup/hnsw-of.ts';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinDir, startThrowawayPostgres, type ThrowawayPostgres } from '../setup/throwaway-postgres.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

const ADD_IMAGE = `mutation ($b: String!, $c: [String!]) {
  addImage(input: { base64: $b, captions: $c }) { status image { id } }
}`;
const ADD_CAPTIONS = `mutation ($id: ID!, $c: [String!]!) { addCaptions(imageId: $id, captions: $c) { id } }`;
const DELETE = `mutation ($id: ID!) { deleteImage(id: $id) { deleted } }`;

const skip = findBinDir() === undefined;
if (skip) console.warn('SKIPPED pg-restart: PostgreSQL server binaries (initdb, pg_ctl) not found');

async function png(seed: number): Promise<string> {
  const colour = { r: (seed * 53) % 256, g: (seed * 97) % 256, b: (seed * 31) % 256 };
  const bytes = await sharp({ create: { width: 40, height: 30, channels: 3, background: colour } })
    .png()
    .toBuffer();
  return bytes.toString('base64');
}

/** Polls until `n` sessions wait on a lock; bounded, so a hang fails the test with a reason. */
async function waitForLockWaiters(url: string, n: number): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    for (let i = 0; i < 400; i++) {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
      );
      if (rows[0]!.n >= n) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`fewer than ${n} requests ever waited inside PostgreSQL`);
  } finally {
    await admin.end();
  }
}

describe.skipIf(skip)('the API server while PostgreSQL restarts during mutations', () => {
  let server: ThrowawayPostgres;
  let t: TestApp;

  beforeAll(async () => {
    const started = await startThrowawayPostgres();
    if ('skipReason' in started) throw new Error(started.skipReason);
    server = started;
    t = await startTestApp({
      n: 6,
      overrides: { DATABASE_URL: server.url, ALLOW_UNAUTHENTICATED_MUTATIONS: 'true' },
    });
  });
  afterAll(async () => {
    await t?.close();
    server?.destroy();
  });

  it.each([
    ['fast', 1],
    ['immediate', 2],
  ] as const)(
    'pg_ctl stop -m %s: the requests in flight fail with DB_UNAVAILABLE, the process lives, later requests succeed',
    async (mode, round) => {
      const live = await t.app.db.query<{ id: number }>(
        'SELECT id FROM images WHERE deleted_at IS NULL ORDER BY id LIMIT 2',
      );
      const [keep, drop] = live.map((r) => String(r.id));
      // Hold every mutation inside the server: it waits for this lock when the server goes down.
      const blocker = new pg.Client({ connectionString: server.url });
      blocker.on('error', () => undefined);
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE images IN ACCESS EXCLUSIVE MODE');
      const inFlight = [
        t.gql(ADD_IMAGE, { b: await png(round * 10), c: ['made during a restart'] }),
        t.gql(ADD_IMAGE, { b: await png(round * 10 + 1) }),
        t.gql(ADD_CAPTIONS, { id: keep, c: ['said during a restart'] }),
        t.gql(DELETE, { id: drop }),
      ];
      // Both adds, and one of addCaptions / deleteImage (the other waits for it in the write gate).
      await waitForLockWaiters(server.url, 3);
      server.stop(mode);
      const failed = await Promise.all(inFlight);
      // Root fields are nullable (issue 13, item 11): the failed field is null beside its error.
      expect(failed.map((r) => ({ codes: codes(r), data: r.data }))).toEqual(
        ['addImage', 'addImage', 'addCaptions', 'deleteImage'].map((field) => ({
          codes: ['DB_UNAVAILABLE'],
          data: { [field]: null },
        })),
      );
      await blocker.end().catch(() => undefined);

      server.start();
      const added = await t.gql<{ addImage: { status: string } }>(ADD_IMAGE, {
        b: await png(round * 10),
        c: ['made after the restart'],
      });
      expect(added).toMatchObject({ status: 200, data: { addImage: { status: 'INDEXED' } } });
      const captioned = await t.gql<{ addCaptions: unknown[] }>(ADD_CAPTIONS, { id: keep, c: ['after'] });
      expect(captioned.errors).toBeUndefined();
      const deleted = await t.gql<{ deleteImage: { deleted: boolean } }>(DELETE, { id: drop });
      expect(deleted.data).toEqual({ deleteImage: { deleted: true } });

      // Nothing the failed requests began is in the database or the index.
      const images = await t.app.db.query<{ id: number }>(
        'SELECT id FROM images WHERE deleted_at IS NULL ORDER BY id',
      );
      const captions = await t.app.db.query<{ text: string }>(
        "SELECT text FROM captions WHERE text LIKE '%during a restart'",
      );
      expect({
        images: hnswOf(t.app.indexes)
          .images.ids()
          .sort((a, b) => a - b),
        captions,
      }).toEqual({
        images: images.map((r) => r.id),
        captions: [],
      });
    },
  );

  it('a query while PostgreSQL is down answers DB_UNAVAILABLE with status 503, then works again', async () => {
    const query = `{ images(first: 1) { edges { cursor } } }`;
    server.stop('fast');
    try {
      const down = await t.gql(query);
      expect({ status: down.status, codes: codes(down), data: down.data }).toEqual({
        status: 503,
        codes: ['DB_UNAVAILABLE'],
        data: { images: null },
      });
    } finally {
      server.start();
    }
    const up = await t.gql<{ images: { edges: unknown[] } }>(query);
    expect({ status: up.status, edges: up.data?.images.edges.length }).toEqual({ status: 200, edges: 1 });
  });
});
