import { readdir, readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript, type Exit } from '../ingest/processes.ts';
import { writeFixture, type Fixture } from '../ingest/fixtures.ts';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';
import type { ChildProcess } from 'node:child_process';

/**
 * `start --read-only` writes nothing under DATA_DIR, so on a PostgreSQL server it takes no DATA_DIR
 * lock: any number of readers share the directory beside its one writer. Embedded PGlite is one
 * process whatever the command: a second server there is refused with advice that says so.
 */
const SLOW = 300_000;
let work: string;
let fixture: Fixture;

interface Server {
  child: ChildProcess;
  exit: Promise<Exit>;
  url: string;
}

/** Starts `scripts/start.ts` and waits for its URL (or its exit). */
async function serve(args: string[], env: Record<string, string>): Promise<Server> {
  let stdout = '';
  const run = runScript('start', args, { PORT: '0', LOG_LEVEL: 'warn', ...env });
  const url = await new Promise<string>((resolve, reject) => {
    run.child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /search page:\s+(http:\/\/\S+)\//.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void run.exit.then((e) => reject(new Error(`start exited ${e.code}: ${e.stderr.slice(-2000)}`)));
  });
  return { ...run, url };
}

async function stop(server: Server): Promise<number | null> {
  server.child.kill('SIGTERM');
  return (await server.exit).code;
}

const KEY = 'read-only-key';

async function gql(url: string, query: string): Promise<unknown> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ query }),
  });
  return response.json();
}

/** Every file under `dir` with its size and mtime: what a reader must leave as it found it. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const s = await stat(file);
    out[path.relative(dir, file)] = `${s.size}@${s.mtimeMs}`;
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'read-only-'));
  fixture = await writeFixture(path.join(work, 'source'), 3);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('read-only servers', () => {
  it.skipIf(postgresBackend.skipReason !== '')(
    'PostgreSQL server: two read-only servers start beside the writer on one DATA_DIR, search, refuse mutations and write nothing',
    async () => {
      const database = await createPostgresDatabase();
      const env = { DATA_DIR: path.join(work, 'data-pg'), DATABASE_URL: database.url, API_KEY: KEY };
      const servers: Server[] = [];
      try {
        const indexed = await runScript('index', [fixture.manifest], { ...env, LOG_LEVEL: 'silent' }).exit;
        expect(indexed.code, indexed.stderr.slice(-2000)).toBe(1); // the fixture's bad lines fail
        const writer = await serve([], env);
        servers.push(writer);
        const indexDir = path.join(env.DATA_DIR, 'indexes');
        const before = await snapshot(indexDir);
        const readers = await Promise.all([serve(['--read-only'], env), serve(['--read-only'], env)]);
        servers.push(...readers);
        const query = `{ searchImages(text: "anything", first: 10) { edges { node { id } } } }`;
        const expected = (await gql(writer.url, query)) as { data: { searchImages: { edges: unknown[] } } };
        expect(expected.data.searchImages.edges).toHaveLength(fixture.good);
        for (const reader of readers) {
          expect(await gql(reader.url, query)).toEqual(expected);
          const refused = (await gql(reader.url, `mutation { deleteImage(id: "1") { deleted } }`)) as {
            errors: { extensions: { code: string } }[];
          };
          expect(refused.errors.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
        }
        // A second writer is still refused, and told about --read-only.
        const second = await runScript('start', [], { ...env, PORT: '0', LOG_LEVEL: 'silent' }).exit;
        expect(second.code).toBe(2);
        expect(second.stderr).toMatch(
          new RegExp(
            `error \\[DATA_DIR_LOCKED\\]: .* in use by process ${writer.child.pid} \\(start\\).*A DATA_DIR has one writer: stop that process, or start this server with --read-only`,
          ),
        );
        for (const reader of readers) expect(await stop(reader)).toBe(0);
        expect(await snapshot(indexDir)).toEqual(before);
        expect(await stop(writer)).toBe(0);
        servers.length = 0;
        // The lock files are the writer's: gone with it, never touched by a reader.
        expect((await readdir(env.DATA_DIR)).filter((f) => f.startsWith('.lock'))).toEqual([]);
      } finally {
        for (const s of servers) s.child.kill('SIGKILL');
        await database.drop();
      }
    },
    SLOW,
  );

  it(
    'embedded PGlite: a read-only server beside a running one is refused, told PGlite is single-process and to use DATABASE_URL',
    async () => {
      const env = { DATA_DIR: path.join(work, 'data-pglite'), DATABASE_URL: '' };
      const first = await serve(['--read-only'], env);
      try {
        const second = await runScript('start', ['--read-only'], { ...env, PORT: '0', LOG_LEVEL: 'silent' })
          .exit;
        expect(second.code).toBe(2);
        expect(second.stderr.trim().split('\n')).toEqual([
          expect.stringMatching(
            new RegExp(
              `^error \\[DATA_DIR_LOCKED\\]: .* in use by process ${first.child.pid} \\(start\\).*The embedded database \\(PGlite\\) allows one process at a time, read-only servers included: stop that process, or use a PostgreSQL server \\(DATABASE_URL\\)`,
            ),
          ),
        ]);
      } finally {
        expect(await stop(first)).toBe(0);
      }
      // The holder file is gone with the holder.
      await expect(readFile(path.join(env.DATA_DIR, '.lock-holder.json'))).rejects.toMatchObject({
        code: 'ENOENT',
      });
    },
    SLOW,
  );
});
