import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, postgresBackend } from '../setup/databases.ts';

/**
 * Two API processes (`npm start`, each with its own DATA_DIR and HNSW files) on one PostgreSQL
 * server: what one adds the other finds, what one deletes disappears from both. The follower's
 * delay is measured and printed; the test only waits for it within a bound.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const API_KEY = 'replica-test-key';
/** The promise for HNSW replicas: a change elsewhere is searchable within 2 s. */
const BOUND_MS = 2000;
const skip = postgresBackend.skipReason;
if (skip) console.warn(`SKIPPED API replicas: ${skip}`);

interface Replica {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

let database: { url: string; drop(): Promise<void> };
const replicas: Replica[] = [];
const dirs: string[] = [];

async function startReplica(name: string): Promise<Replica> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `replica-${name}-`));
  dirs.push(dataDir);
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DEVICE: 'cpu',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      API_KEY,
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout!.resume();
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)".*"msg":"serving"/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`replica ${name} exited ${code}: ${stderr.slice(-2000)}`)));
  });
  return { child, url, stderr: () => stderr };
}

async function gql<T>(replica: Replica, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${replica.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

const image = (n: number) =>
  sharp({
    create: { width: 40 + n, height: 32, channels: 3, background: { r: n * 40, g: 255 - n * 30, b: n * 7 } },
  })
    .png()
    .toBuffer()
    .then((b) => b.toString('base64'));

async function add(replica: Replica, base64: string, caption: string): Promise<string> {
  const data = await gql<{ addImage: { image: { id: string } } }>(
    replica,
    'mutation($input: AddImageInput!) { addImage(input: $input) { image { id } } }',
    { input: { base64, captions: [caption] } },
  );
  return data.addImage.image.id;
}

/** Ids of the closest images to these bytes on `replica` (its own HNSW index). */
async function similar(replica: Replica, base64: string): Promise<string[]> {
  const data = await gql<{ similarImages: { edges: { node: { id: string } }[] } }>(
    replica,
    'query($b: String!) { similarImages(image: { base64: $b }, first: 3) { edges { node { id } } } }',
    { b: base64 },
  );
  return data.similarImages.edges.map((e) => e.node.id);
}

/** Polls until `check` holds or `BOUND_MS` passed; returns the time it took, or undefined. */
async function within(check: () => Promise<boolean>): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < BOUND_MS) {
    if (await check()) return performance.now() - started;
    await sleep(10);
  }
  return (await check()) ? performance.now() - started : undefined;
}

beforeAll(async () => {
  if (skip) return;
  database = await createPostgresDatabase({ migrated: true });
  // One after the other: the first migrates and generates nothing the second would race for.
  replicas.push(await startReplica('a'));
  replicas.push(await startReplica('b'));
}, 240_000);
afterAll(async () => {
  for (const r of replicas) {
    r.child.kill('SIGTERM');
    await new Promise((resolve) => r.child.once('close', resolve));
  }
  await database?.drop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe.skipIf(skip !== '')('API replicas with HNSW on one PostgreSQL server', () => {
  it('an addImage on one replica is found by a search on the other; a deleteImage disappears from both', async () => {
    const [a, b] = replicas as [Replica, Replica];
    const delays: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      // Alternate the writer, so each replica follows the other.
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
      const bytes = await image(i);
      const id = await add(writer, bytes, `replica picture ${i}`);
      ids.push(id);
      expect((await similar(writer, bytes))[0]).toBe(id);
      const delay = await within(async () => (await similar(reader, bytes))[0] === id);
      expect(
        delay,
        `image ${id} added on one replica not found on the other within ${BOUND_MS} ms`,
      ).toBeDefined();
      delays.push(delay!);
    }

    const gone: number[] = [];
    for (const [i, id] of ids.entries()) {
      if (i % 2 === 1) continue;
      const bytes = await image(i);
      const data = await gql<{ deleteImage: { deleted: boolean } }>(
        a,
        'mutation($id: ID!) { deleteImage(id: $id) { deleted } }',
        { id },
      );
      expect(data.deleteImage.deleted).toBe(true);
      expect(await similar(a, bytes)).not.toContain(id);
      const delay = await within(async () => !(await similar(b, bytes)).includes(id));
      expect(
        delay,
        `image ${id} deleted on one replica still found on the other after ${BOUND_MS} ms`,
      ).toBeDefined();
      gone.push(delay!);
    }
    const live = ids.filter((_, i) => i % 2 === 1).sort();
    const everything = async (r: Replica) =>
      (
        await gql<{ images: { edges: { node: { id: string } }[] } }>(
          r,
          '{ images(first: 50) { edges { node { id } } } }',
        )
      ).images.edges
        .map((e) => e.node.id)
        .sort();
    expect(await everything(a)).toEqual(live);
    expect(await everything(b)).toEqual(live);

    const fmt = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return `median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, max ${s.at(-1)!.toFixed(0)} ms (n=${s.length})`;
    };
    console.log(
      `--- replica delay (search on the other replica, polled every 10 ms; FOLLOW_POLL_MS=1000 with LISTEN/NOTIFY) ---\n` +
        `  addImage -> found on the other:      ${fmt(delays)}  [${delays.map((d) => d.toFixed(0)).join(', ')}]\n` +
        `  deleteImage -> gone from the other:  ${fmt(gone)}  [${gone.map((d) => d.toFixed(0)).join(', ')}]`,
    );
    for (const r of replicas) expect(r.stderr()).toContain('following the vector tables for other writers');
  }, 180_000);
});
