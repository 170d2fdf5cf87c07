import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
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

/** What a set was generated with, kept beside its manifest as `generation.json`. */
function generationOf(options: SampleDataOptions): Record<string, number> {
  return {
    n: options.n ?? DEFAULT_SAMPLE_IMAGES,
    seed: options.seed ?? 42,
    captionsPerImage: options.captionsPerImage ?? 2,
    side: options.side ?? 64,
    valFraction: options.valFraction ?? 0.1,
    testFraction: options.testFraction ?? 0.1,
  };
}

const GENERATION_NAME = 'generation.json';

/**
 * Generates the set unless a complete one (its manifest) is already in `outDir`. With
 * `ifDifferent: 'regenerate'` an existing set made with other parameters (or by a version that did
 * not record them) is replaced: `--train-images` and `--seed` were ignored once the set existed.
 * `keep` (the default) leaves a set alone, as the indexed sample set must be.
 */
export async function ensureSampleData(
  options: SampleDataOptions & { ifDifferent?: 'keep' | 'regenerate' },
): Promise<{ manifestPath: string; count: number; generated: boolean; replaced?: string }> {
  const manifestPath = path.join(options.outDir, MANIFEST_NAME);
  const existing = await readFile(manifestPath, 'utf8').catch(() => undefined);
  const wanted = generationOf(options);
  let replaced: string | undefined;
  if (existing !== undefined) {
    const count = existing.split('\n').filter((l) => l.trim() !== '').length;
    const recorded = await readFile(path.join(options.outDir, GENERATION_NAME), 'utf8').then(
      (t) => t,
      () => undefined,
    );
    if (options.ifDifferent !== 'regenerate' || recorded === JSON.stringify(wanted))
      return { manifestPath, count, generated: false };
    replaced = recorded ?? `{"n":${count}} (older set: its seed was not recorded)`;
    await rm(manifestPath, { force: true });
    await rm(path.join(options.outDir, 'images'), { recursive: true, force: true });
  }
  return { ...(await generateSampleData(options)), generated: true, ...(replaced ? { replaced } : {}) };
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

  // Recorded before the manifest, whose presence marks a complete set.
  await writeFile(path.join(options.outDir, GENERATION_NAME), JSON.stringify(generationOf(options)));
  const manifestPath = path.join(options.outDir, MANIFEST_NAME);
  const tmp = `${manifestPath}.tmp-${process.pid}`;
  await writeFile(tmp, `${lines.join('\n')}\n`);
  await rename(tmp, manifestPath);
  return { manifestPath, count: n };
}
