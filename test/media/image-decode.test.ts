import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { decodeImage, decodeMany } from '../../src/media/image-decode.ts';
import type { PreprocessSpec } from '../../src/models/types.ts';
import { ensurePhotos, type PhotoSet } from '../setup/photos.ts';

const spec: PreprocessSpec = {
  shortestEdge: 64,
  cropHeight: 64,
  cropWidth: 64,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  rescaleFactor: 1 / 255,
};
const limits = { maxBytes: 50 * 1024 * 1024, maxPixels: 50_000_000 };

/** Normalised value a 0..255 channel value should become. */
const norm = (v: number, c: number) => (v / 255 - spec.mean[c]!) / spec.std[c]!;
/** Channel c of the centre pixel of a CHW tensor. */
const centre = (data: Float32Array, c: number) => data[c * 64 * 64 + 32 * 64 + 32]!;

async function expectAppError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  expect((error as AppError).message).toMatch(message);
}

/** A real 8x8 PNG whose IHDR (CRC fixed up) claims width x height: a decompression-bomb header. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } })
      .png()
      .toBuffer(),
  );
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)) >>> 0, 29);
  return png;
}

const red = { r: 220, g: 20, b: 60 };
const solid = (width = 96, height = 80, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background: channels === 4 ? { ...red, alpha: 1 } : red } });

describe('decodeImage', () => {
  it('decodes every format sharp writes to a 3x64x64 normalised CHW tensor', async () => {
    const encoders: Record<string, (s: Sharp) => Sharp> = {
      jpeg: (s) => s.jpeg({ quality: 95 }),
      png: (s) => s.png(),
      webp: (s) => s.webp({ lossless: true }),
      gif: (s) => s.gif(),
      tiff: (s) => s.tiff(),
      heif: (s) => s.avif({ quality: 90 }),
    };
    for (const [format, encode] of Object.entries(encoders)) {
      const bytes = await encode(solid()).toBuffer();
      const px = await decodeImage(bytes, spec, limits);
      expect(px.source, format).toEqual({ width: 96, height: 80, format, bytes: bytes.length });
      expect(px.data).toBeInstanceOf(Float32Array);
      expect(px.data.length).toBe(3 * 64 * 64);
      expect([px.height, px.width]).toEqual([64, 64]);
      // Lossy codecs and the GIF palette move colours a little; 12/255 covers them.
      for (const [c, v] of [red.r, red.g, red.b].entries())
        expect(Math.abs(centre(px.data, c) - norm(v, c)), `${format} channel ${c}`).toBeLessThan(
          12 / 255 / spec.std[c]!,
        );
    }
  });

  it('converts CMYK, 16-bit, grayscale and alpha images to 8-bit sRGB', async () => {
    const cmyk = await solid().jpeg().toColourspace('cmyk').toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const rgb16 = await solid().png().toColourspace('rgb16').toBuffer();
    expect((await sharp(rgb16).metadata()).depth).toBe('ushort');
    const gray = await solid().grayscale().png().toBuffer();
    const transparent = await sharp({
      create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();

    for (const bytes of [cmyk, rgb16]) {
      const px = await decodeImage(bytes, spec, limits);
      expect(Math.abs(centre(px.data, 0) - norm(red.r, 0))).toBeLessThan(0.25);
    }
    const g = await decodeImage(gray, spec, limits);
    // Grayscale becomes three equal channels (before per-channel normalisation).
    const back = [0, 1, 2].map((c) => centre(g.data, c) * spec.std[c]! + spec.mean[c]!);
    expect(Math.abs(back[0]! - back[1]!)).toBeLessThan(1e-5);
    expect(Math.abs(back[1]! - back[2]!)).toBeLessThan(1e-5);
    // Fully transparent flattens onto white.
    const t = await decodeImage(transparent, spec, limits);
    for (const c of [0, 1, 2]) expect(centre(t.data, c)).toBeCloseTo(norm(255, c), 4);
  });

  it('applies EXIF orientation so a rotated photo decodes like its upright twin', async () => {
    // Left half red, right half blue: any rotation or mirror would swap or move the halves.
    const upright = await sharp({
      create: { width: 120, height: 80, channels: 3, background: { r: 0, g: 0, b: 255 } },
    })
      .composite([{ input: await solid(60, 80).png().toBuffer(), left: 0, top: 0 }])
      .png()
      .toBuffer();
    // Stored turned 90 degrees counter-clockwise; orientation 6 tells viewers to turn it back.
    const stored = await sharp(upright)
      .rotate(-90)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(stored).metadata()).orientation).toBe(6);
    const a = await decodeImage(upright, spec, limits);
    const b = await decodeImage(stored, spec, limits);
    expect(b.source).toMatchObject({ width: 120, height: 80 });
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) diff += Math.abs(a.data[i]! - b.data[i]!);
    // JPEG ringing at the red/blue edge only; a wrong turn moves half the pixels by ~2-4.
    expect(diff / a.data.length).toBeLessThan(0.05);
    expect(centre(b.data, 0)).toBeLessThan(0); // centre column is the blue half after the crop
  });

  it('refuses bad inputs with AppError, never a crash', async () => {
    const noisy = await sharp(
      Buffer.from(Array.from({ length: 200 * 200 * 3 }, (_, i) => (i * 7919) % 256)),
      { raw: { width: 200, height: 200, channels: 3 } },
    )
      .jpeg()
      .toBuffer();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'decode-'));
    try {
      const textFile = path.join(dir, 'holiday.jpg');
      await writeFile(textFile, 'this is a text file, not a JPEG\n');
      await expectAppError(decodeImage(Buffer.alloc(0), spec, limits), 'INVALID_IMAGE', /empty/);
      await expectAppError(
        decodeImage(noisy.subarray(0, Math.floor(noisy.length * 0.6)), spec, limits),
        'INVALID_IMAGE',
        /premature end|truncated|corrupt/i,
      );
      await expectAppError(
        decodeImage(await readFile(textFile), spec, limits),
        'INVALID_IMAGE',
        /unsupported image format/,
      );
      await expectAppError(
        decodeImage(await pngClaiming(30000, 30000), spec, limits),
        'LIMIT_EXCEEDED',
        /30000x30000 = 900000000 pixels, more than the limit of 50000000/,
      );
      await expectAppError(
        decodeImage(noisy, spec, { ...limits, maxBytes: 1000 }),
        'LIMIT_EXCEEDED',
        /more than the limit of 1000 bytes/,
      );
      const svg = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
      );
      await expectAppError(decodeImage(svg, spec, limits), 'INVALID_IMAGE', /unsupported image format "svg"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('decodeMany', () => {
  it('returns one result per input, in order, with failures as values', async () => {
    const good = await solid().png().toBuffer();
    const results = await decodeMany([good, Buffer.from('nope'), good, Buffer.alloc(0)], spec, limits, 2);
    expect(results.map((r) => r.ok)).toEqual([true, false, true, false]);
    const failed = results[1]!;
    expect(failed.ok === false && failed.error.code).toBe('INVALID_IMAGE');
  });
});

describe('real photos (Debian mate-backgrounds, gnome-backgrounds)', () => {
  let photos: PhotoSet;
  beforeAll(async () => {
    photos = await ensurePhotos();
    if ('skipped' in photos) console.warn(`[image-decode] real-photo tests skipped: ${photos.skipped}`);
  }, 300_000);
  afterAll(() => undefined);

  it('decodes large JPEG, PNG and WebP wallpapers; other formats fail cleanly', async (ctx) => {
    if ('skipped' in photos) return ctx.skip();
    const byExt = new Map<string, string[]>();
    for (const f of photos.files)
      byExt.set(path.extname(f).toLowerCase(), [...(byExt.get(path.extname(f).toLowerCase()) ?? []), f]);
    // Two of each kind keeps the test short on a small machine; include the biggest JPEG.
    const picked = [...byExt.values()].flatMap((files) => files.slice(0, 2));
    const biggest = photos.files.find((f) => f.includes('5640x3172'));
    if (biggest) picked.push(biggest);
    const bytes = await Promise.all(picked.map((f) => readFile(f)));
    const results = await decodeMany(bytes, spec, limits, 2);
    results.forEach((r, i) => {
      const ext = path.extname(picked[i]!).toLowerCase();
      if (['.jpg', '.jpeg', '.png', '.webp'].includes(ext)) {
        expect(r.ok, `${picked[i]}: ${r.ok ? '' : r.error.message}`).toBe(true);
        if (r.ok) {
          expect(r.value.data.length).toBe(3 * 64 * 64);
          expect(r.value.data.every(Number.isFinite)).toBe(true);
          expect(r.value.source.width).toBeGreaterThan(64);
        }
      } else if (!r.ok) {
        expect(r.error).toBeInstanceOf(AppError);
      }
    });
  }, 60_000);
});
