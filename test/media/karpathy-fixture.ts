import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

export interface KarpathyEntry {
  filepath?: string;
  filename: string;
  split: string;
  imgid: number;
  cocoid?: number;
  sentences: { raw: string; tokens: string[] }[];
}

/** Five captions per image, as in the real files; the colour word makes each image findable. */
export function karpathyEntry(i: number, split: string, filepath?: string): KarpathyEntry {
  const colour = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'black', 'white'][i % 8]!;
  const sentences = Array.from({ length: 5 }, (_, n) => {
    const raw = `picture ${i}: a ${colour} square, caption ${n}`;
    return { raw, tokens: raw.split(' ') };
  });
  return {
    ...(filepath ? { filepath } : {}),
    filename: `img_${i}.png`,
    split,
    imgid: i,
    ...(filepath ? { cocoid: 1000 + i } : {}),
    sentences,
  };
}

/**
 * A small COCO-style Karpathy file (`dataset_coco.json`) and its images under
 * `<dir>/images/<filepath>/`, one generated PNG per entry, `extra` raw entries appended as-is.
 */
export async function writeKarpathyFixture(
  dir: string,
  splits: string[],
  extra: unknown[] = [],
): Promise<{ file: string; images: string; entries: KarpathyEntry[] }> {
  const images = path.join(dir, 'images');
  const entries = splits.map((split, i) => karpathyEntry(i, split, i % 2 === 0 ? 'val2014' : 'train2014'));
  for (const [i, e] of entries.entries()) {
    await mkdir(path.join(images, e.filepath!), { recursive: true });
    const png = await sharp({
      create: {
        width: 16,
        height: 16,
        channels: 3,
        background: { r: (i * 37) % 256, g: (i * 91) % 256, b: 128 },
      },
    })
      .png()
      .toBuffer();
    await writeFile(path.join(images, e.filepath!, e.filename), png);
  }
  const file = path.join(dir, 'dataset_coco.json');
  await writeFile(file, JSON.stringify({ images: [...entries, ...extra], dataset: 'coco' }));
  return { file, images, entries };
}
