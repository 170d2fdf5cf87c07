import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySource, jsonlSource, type Source } from '../../src/media/sources/index.ts';

/**
 * A FIFO (or socket, or device) in a source folder is no image: reading a FIFO blocks until a
 * writer appears, and four such reads stalled the whole indexer. Skipped with a reason when listed,
 * refused without blocking when a manifest names one. Real FIFOs made with mkfifo.
 */
let root: string;

/** Every item's key and read outcome; the test's own timeout is the proof that nothing blocks. */
async function readAll(source: Source): Promise<string[]> {
  const out: string[] = [];
  for await (const item of source.items()) {
    const outcome = await item.read().then(
      (b) => `ok:${b.length}`,
      (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
    );
    out.push(`${item.key} ${outcome}`);
  }
  return out;
}

const noMkfifo = spawnSync('mkfifo', ['--version']).status === 0 ? '' : 'mkfifo is not available';
if (noMkfifo) console.warn(`SKIPPED special-file source tests: ${noMkfifo}`);

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'special-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(noMkfifo !== '')('special files in a source', () => {
  it('a folder: a FIFO named like an image, and a symlink to one, are skipped with a reason; the real image is read', async () => {
    const dir = path.join(root, 'photos');
    await mkdir(dir);
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#08f' } })
      .png()
      .toBuffer();
    await writeFile(path.join(dir, 'a.png'), png);
    spawnSync('mkfifo', [path.join(dir, 'b.jpg')]);
    spawnSync('mkfifo', [path.join(root, 'elsewhere-fifo')]);
    await symlink(path.join(dir, 'b.jpg'), path.join(dir, 'c.jpg'));
    const warnings: string[] = [];
    const source = await directorySource(dir, { onWarning: (m) => warnings.push(m) });
    expect(await source.count()).toBe(1);
    expect(await readAll(source)).toEqual([`a.png ok:${png.length}`]);
    expect(warnings).toEqual([
      'skipped b.jpg: a FIFO, not a regular file',
      'skipped c.jpg: a FIFO, not a regular file',
    ]);
  });

  it('a manifest naming a FIFO: the item fails with INVALID_IMAGE at once, the next one is read', async () => {
    const dir = path.join(root, 'manifest');
    await mkdir(dir);
    spawnSync('mkfifo', [path.join(dir, 'pipe.jpg')]);
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f80' } })
      .png()
      .toBuffer();
    await writeFile(path.join(dir, 'ok.png'), png);
    const manifest = path.join(dir, 'manifest.jsonl');
    await writeFile(manifest, '{"image":"pipe.jpg"}\n{"image":"ok.png"}\n');
    const outcomes = await readAll(await jsonlSource(manifest));
    expect(outcomes).toHaveLength(2);
    expect(outcomes[0]).toMatch(/ INVALID_IMAGE: .*pipe\.jpg is not a regular file \(a FIFO\)$/);
    expect(outcomes[1]).toMatch(new RegExp(` ok:${png.length}$`));
  });
});
