import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSchema, migrate, MIGRATIONS_DIR, readMigrations } from '../../src/store/migrate.ts';
import { openPgDb } from '../../src/store/pg-db.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';

/**
 * A server can run as a role that may only read and write rows: `npm run migrate`, as the owner,
 * creates and migrates; `start` only checks the schema version and says what to run when it is
 * behind. On the real PostgreSQL server, with a role granted SELECT, INSERT, UPDATE, DELETE only.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The migrations this code has, in order, and the newest: what a migrated database is at. */
const NAMES = (await readMigrations()).map((m) => m.name);
const LATEST = NAMES.at(-1)!;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const KEY = 'least-privilege-key';
const SLOW = 240_000;
const skip = postgresBackend.skipReason !== '';
if (skip) console.warn(`SKIPPED least-privilege role suite: ${postgresBackend.skipReason}`);

let work: string;
let database: { url: string; drop(): Promise<void> };
let ownerUrl: string;
let dmlUrl: string;
const role = `dml_${randomBytes(4).toString('hex')}`;

async function asOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function cli(
  script: string,
  env: Record<string, string>,
): {
  child: ChildProcess;
  exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
  stdout: () => string;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'silent', DEVICE: 'cpu', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, exit, stdout: () => stdout };
}

beforeAll(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'least-privilege-'));
  database = await createPostgresDatabase();
  ownerUrl = database.url;
  await asOwner(async (c) => {
    await c.query(`CREATE ROLE ${role} LOGIN`);
    await c.query(`GRANT CONNECT ON DATABASE ${new URL(ownerUrl).pathname.slice(1)} TO ${role}`);
    // PostgreSQL 15 already takes CREATE on public from PUBLIC; older servers gave it to everyone.
    await c.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  });
  const url = new URL(ownerUrl);
  url.username = role;
  url.password = '';
  dmlUrl = url.toString();
}, SLOW);
afterAll(async () => {
  if (skip) return;
  await database.drop();
  await asOwner(async (c) => c.query(`DROP ROLE IF EXISTS ${role}`)).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(skip)('a DML-only role on a PostgreSQL server', () => {
  it(
    'start refuses an unmigrated database naming npm run migrate; after migrate as the owner it serves, reads and writes',
    async () => {
      const dataDir = path.join(work, 'data');
      const early = await cli('start', { DATA_DIR: dataDir, DATABASE_URL: dmlUrl }).exit;
      expect(early.code, early.stderr).toBe(2);
      expect(early.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^error \\[MIGRATION_REQUIRED\\]: The database is not set up yet, and this code needs ${escape(NAMES.join(', '))}: run \`npm run migrate\` with the same DATABASE_URL as the database's owner`,
          ),
        ),
      ]);
      // Nothing was created by the refused start.
      expect(
        await asOwner(async (c) => (await c.query(`SELECT to_regclass('schema_migrations') AS t`)).rows),
      ).toEqual([{ t: null }]);

      const migrated = await cli('migrate', { DATA_DIR: dataDir, DATABASE_URL: ownerUrl }).exit;
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(migrated.stdout).toContain(`is at ${LATEST}`);
      await asOwner((c) =>
        c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`),
      );

      const server = cli('start', {
        DATA_DIR: dataDir,
        DATABASE_URL: dmlUrl,
        API_KEY: KEY,
        LOG_LEVEL: 'warn',
      });
      const base = await new Promise<string>((resolve, reject) => {
        server.child.stdout!.on('data', () => {
          const m = /search page:\s+(http:\/\/\S+)\//.exec(server.stdout());
          if (m) resolve(m[1]!);
        });
        void server.exit.then((e) => reject(new Error(`start exited ${e.code}: ${e.stderr.slice(-2000)}`)));
      });
      const gql = async (query: string, variables: Record<string, unknown> = {}) =>
        (await (
          await fetch(`${base}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
            body: JSON.stringify({ query, variables }),
          })
        ).json()) as { data?: Record<string, unknown>; errors?: unknown[] };
      const png = (
        await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 90 } } })
          .png()
          .toBuffer()
      ).toString('base64');
      const added = await gql(
        `mutation ($b: String!) { addImage(input: { base64: $b, captions: ["a green box"] }) { status image { id } } }`,
        { b: png },
      );
      expect(added.errors).toBeUndefined();
      expect(added.data).toMatchObject({ addImage: { status: 'INDEXED' } });
      const found = await gql(
        `{ searchImages(text: "a green box", first: 1) { edges { node { captions { text } } } } }`,
      );
      expect(found).toEqual({
        data: { searchImages: { edges: [{ node: { captions: [{ text: 'a green box' }] } }] } },
      });
      server.child.kill('SIGTERM');
      const stopped = await server.exit;
      expect(stopped.code, stopped.stderr.slice(-2000)).toBe(0);
      // The role still owns nothing and may create nothing: the schema is the owner's alone.
      expect(
        await asOwner(
          async (c) =>
            (await c.query(`SELECT has_schema_privilege($1, 'public', 'CREATE') AS create`, [role])).rows,
        ),
      ).toEqual([{ create: false }]);
    },
    SLOW,
  );

  it('a schema behind the code: checkSchema names the pending migration and npm run migrate; migrate as the role says it lacks the privilege', async () => {
    const newer = path.join(work, 'migrations');
    await cp(MIGRATIONS_DIR, newer, { recursive: true });
    await writeFile(path.join(newer, '099_later.sql'), 'CREATE TABLE later (id int);');
    const db = await openPgDb(dmlUrl);
    try {
      await expect(checkSchema(db, { dir: newer })).rejects.toMatchObject({
        code: 'MIGRATION_REQUIRED',
        message: expect.stringMatching(
          new RegExp(
            `The database is at ${escape(LATEST)}, and this code needs 099_later\\.sql: run \`npm run migrate\``,
          ),
        ),
      });
      expect(await checkSchema(db)).toEqual({ current: LATEST });
      await expect(migrate(db, { dir: newer })).rejects.toMatchObject({
        code: 'MIGRATION_REQUIRED',
        message: expect.stringMatching(
          /Migration 099_later\.sql cannot be applied: this database role may not change the schema.*Run `npm run migrate` as the database's owner/,
        ),
      });
      // The current schema needs no DDL: migrate as the role passes, changing nothing.
      expect(await migrate(db)).toEqual({ applied: [] });
    } finally {
      await db.close();
    }
  });
});
