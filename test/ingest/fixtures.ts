import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

export interface Fixture {
  dir: string;
  manifest: string;
  /** Distinct, decodable images listed in the manifest. */
  good: number;
  /** Lines whose image repeats the content of an earlier one. */
  duplicates: number;
  /** Lines that must fail, by expected error code. */
  bad: Record<string, number>;
  /** Captions of the good images, in total. */
  captions: number;
}

/**
 * A JSONL source with `n` distinct real JPEGs (two captions each), one byte-identical copy, a
 * corrupt file, a missing file and a path-traversal line.
 */
export async function writeFixture(dir: string, n: number, offset = 0): Promise<Fixture> {
  await mkdir(path.join(dir, 'images'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = i + offset;
    const image = await sharp({
      create: {
        width: 48 + (v % 11),
        height: 40 + (v % 5),
        channels: 3,
        background: { r: (v * 37) % 256, g: (v * 91) % 256, b: (v * 13) % 256 },
      },
    })
      .composite([
        {
          input: Buffer.from(
            `<svg width="20" height="10"><rect width="${5 + (v % 15)}" height="10" fill="white"/></svg>`,
          ),
          top: 3,
          left: 3,
        },
      ])
      .jpeg()
      .toBuffer();
    await writeFile(path.join(dir, 'images', `img${i}.jpg`), image);
    lines.push(
      JSON.stringify({
        image: `images/img${i}.jpg`,
        captions: [`picture ${i}`, `colour block ${i}`],
        metadata: { n: i },
      }),
    );
  }
  const { readFile } = await import('node:fs/promises');
  await writeFile(path.join(dir, 'images', 'copy.jpg'), await readFile(path.join(dir, 'images', 'img1.jpg')));
  lines.push(JSON.stringify({ image: 'images/copy.jpg', captions: ['same bytes as img1'] }));
  await writeFile(
    path.join(dir, 'images', 'corrupt.jpg'),
    Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(64, 7)]),
  );
  lines.push(JSON.stringify({ image: 'images/corrupt.jpg', captions: ['broken'] }));
  lines.push(JSON.stringify({ image: 'images/missing.jpg' }));
  lines.push(JSON.stringify({ image: '../../etc/passwd', captions: ['escape'] }));
  const manifest = path.join(dir, 'manifest.jsonl');
  await writeFile(manifest, `${lines.join('\n')}\n`);
  return {
    dir,
    manifest,
    good: n,
    duplicates: 1,
    bad: { INVALID_IMAGE: 1, NOT_FOUND: 1, FORBIDDEN: 1 },
    captions: 2 * n,
  };
}
