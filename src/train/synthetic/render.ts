import sharp from 'sharp';
import type { Rng } from '../rng.ts';
import type { Scene, SceneObject } from './scene.ts';
import { BACKGROUNDS, COLOURS, POSITIONS, SIZES } from './vocabulary.ts';

/**
 * Draws a scene as SVG and rasterises it with sharp. Small jitter in place, size, angle and
 * background shade keeps two scenes with the same attributes from being the same picture.
 */
export async function renderScene(rng: Rng, scene: Scene, side: number): Promise<Buffer> {
  const svg = sceneToSvg(rng, scene, side);
  return sharp(Buffer.from(svg)).png({ compressionLevel: 6 }).toBuffer();
}

export function sceneToSvg(rng: Rng, scene: Scene, side: number): string {
  const bg = BACKGROUNDS[scene.background].rgb;
  const shade = (rng.next() - 0.5) * 0.25;
  const angle = Math.round(rng.next() * 360);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="0 0 ${side} ${side}">`,
    `<defs><linearGradient id="g" gradientTransform="rotate(${angle} 0.5 0.5)">`,
    `<stop offset="0" stop-color="${tint(bg, shade)}"/><stop offset="1" stop-color="${tint(bg, -shade)}"/>`,
    `</linearGradient></defs>`,
    `<rect width="${side}" height="${side}" fill="url(#g)"/>`,
  ];
  for (const object of scene.objects) parts.push(shapeSvg(rng, object, side));
  parts.push('</svg>');
  return parts.join('');
}

function shapeSvg(rng: Rng, o: SceneObject, side: number): string {
  const jitter = side * 0.04;
  const cx = POSITIONS[o.position].x * side + (rng.next() - 0.5) * 2 * jitter;
  const cy = POSITIONS[o.position].y * side + (rng.next() - 0.5) * 2 * jitter;
  const r = (SIZES[o.size].scale * side * (0.9 + rng.next() * 0.2)) / 2;
  const fill = tint(COLOURS[o.colour].rgb, (rng.next() - 0.5) * 0.15);
  const rot = (rng.next() - 0.5) * 30;
  const attrs = `fill="${fill}" transform="rotate(${rot.toFixed(1)} ${cx.toFixed(2)} ${cy.toFixed(2)})"`;
  switch (o.shape) {
    case 'circle':
      return `<circle cx="${cx.toFixed(2)}" cy="${cy.toFixed(2)}" r="${r.toFixed(2)}" fill="${fill}"/>`;
    case 'square':
      return `<rect x="${(cx - r * 0.9).toFixed(2)}" y="${(cy - r * 0.9).toFixed(2)}" width="${(r * 1.8).toFixed(2)}" height="${(r * 1.8).toFixed(2)}" ${attrs}/>`;
    case 'triangle':
      return polygon(cx, cy, r, 3, 1, attrs);
    case 'star':
      return polygon(cx, cy, r, 5, 0.45, attrs);
    case 'hexagon':
      return polygon(cx, cy, r, 6, 1, attrs);
    case 'cross': {
      const w = r * 0.35;
      const d = `M${cx - w},${cy - r}h${2 * w}v${r - w}h${r - w}v${2 * w}h${w - r}v${r - w}h${-2 * w}v${w - r}h${w - r}v${-2 * w}h${r - w}z`;
      return `<path d="${d}" ${attrs}/>`;
    }
  }
}

/** A regular polygon, or a star when `inner` < 1 (alternating outer/inner radius). */
function polygon(cx: number, cy: number, r: number, points: number, inner: number, attrs: string): string {
  const n = inner < 1 ? points * 2 : points;
  const coords: string[] = [];
  for (let i = 0; i < n; i++) {
    const radius = inner < 1 && i % 2 === 1 ? r * inner : r;
    const t = -Math.PI / 2 + (i * 2 * Math.PI) / n;
    coords.push(`${(cx + radius * Math.cos(t)).toFixed(2)},${(cy + radius * Math.sin(t)).toFixed(2)}`);
  }
  return `<polygon points="${coords.join(' ')}" ${attrs}/>`;
}

/** Lightens (amount > 0) or darkens (amount < 0) a #rrggbb colour. */
function tint(hex: string, amount: number): string {
  const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const out = channels.map((c) => {
    const v = amount >= 0 ? c + (255 - c) * amount : c * (1 + amount);
    return Math.max(0, Math.min(255, Math.round(v)))
      .toString(16)
      .padStart(2, '0');
  });
  return `#${out.join('')}`;
}
