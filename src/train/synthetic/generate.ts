import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { createRng, deriveSeed } from '../rng.ts';
import { captionScene } from './captions.ts';
import { renderScene } from './render.ts';
import { sampleScene, type SceneOptions } from './scene.ts';

export interface SampleDataOptions extends SceneOptions {
  outDir: string;
  /** Number of images. @default 2400 */
  n?: number;
  /** @default 42 */
  seed?: number;
  /** @default 2 */
  captionsPerImage?: number;
  /** Image side in pixels. @default 64 */
  side?: number;
  /** @default 0.1 */
  valFraction?: number;
  /** @default 0.1 */
  testFraction?: number;
  /** Called after each image, for progress bars. */
  onProgress?: (done: number, total: number) => void;
}

export interface ManifestLine {
  image: string;
  captions: string[];
  metadata: { split: 'train' | 'val' | 'test'; attributes: Record<string, unknown> };
}

export const MANIFEST_NAME = 'manifest.jsonl';
/** The default set size: quick to index (the demo's sample set). */
export const DEFAULT_SAMPLE_IMAGES = 2400;

/** Generates the set unless a complete one (its manifest) is already in `outDir`. */
export async function ensureSampleData(
  options: SampleDataOptions,
): Promise<{ manifestPath: string; count: number; generated: boolean }> {
  const manifestPath = path.join(options.outDir, MANIFEST_NAME);
  const existing = await readFile(manifestPath, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    return {
      manifestPath,
      count: existing.split('\n').filter((l) => l.trim() !== '').length,
      generated: false,
    };
  }
  return { ...(await generateSampleData(options)), generated: true };
}

/**
 * Writes `n` synthetic scenes as PNGs plus a JSONL manifest (the indexer's format). Each image
 * draws from its own seed-derived stream, so the output is identical for a seed whatever the
 * concurrency. The manifest is written last and atomically: its presence means a complete set.
 */
export async function generateSampleData(
  options: SampleDataOptions,
): Promise<{ manifestPath: string; count: number }> {
  const n = options.n ?? DEFAULT_SAMPLE_IMAGES;
  const seed = options.seed ?? 42;
  const captionsPerImage = options.captionsPerImage ?? 2;
  const side = options.side ?? 64;
  const valFraction = options.valFraction ?? 0.1;
  const testFraction = options.testFraction ?? 0.1;
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
    throw new AppError('INVALID_INPUT', `n must be an integer in 1..1000000, got ${n}`);
  if (!Number.isInteger(captionsPerImage) || captionsPerImage < 1 || captionsPerImage > 6)
    throw new AppError('INVALID_INPUT', `captionsPerImage must be 1..6, got ${captionsPerImage}`);
  if (!Number.isInteger(side) || side < 16 || side > 1024)
    throw new AppError('INVALID_INPUT', `side must be 16..1024, got ${side}`);
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction < 1))
    throw new AppError('INVALID_INPUT', 'valFraction + testFraction must be in [0, 1)');

  const imagesDir = path.join(options.outDir, 'images');
  await mkdir(imagesDir, { recursive: true });
  const lines: string[] = new Array<string>(n);
  let done = 0;
  const one = async (i: number): Promise<void> => {
    const rng = createRng(deriveSeed(seed, `image:${i}`));
    const u = rng.next();
    const split = u < testFraction ? 'test' : u < testFraction + valFraction ? 'val' : 'train';
    const scene = sampleScene(rng, options);
    const captions = captionScene(rng, scene, captionsPerImage);
    const png = await renderScene(rng, scene, side);
    const name = `images/${String(i).padStart(6, '0')}.png`;
    await writeFile(path.join(options.outDir, name), png);
    const line: ManifestLine = {
      image: name,
      captions: captions.map((c) => c.text),
      metadata: {
        split,
        attributes: {
          background: scene.background,
          objects: scene.objects,
          captions: captions.map((c) => c.named),
        },
      },
    };
    lines[i] = JSON.stringify(line);
    options.onProgress?.(++done, n);
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(8, n) }, worker));

  const manifestPath = path.join(options.outDir, MANIFEST_NAME);
  const tmp = `${manifestPath}.tmp-${process.pid}`;
  await writeFile(tmp, `${lines.join('\n')}\n`);
  await rename(tmp, manifestPath);
  return { manifestPath, count: n };
}
