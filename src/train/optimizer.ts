import type { Params } from './train-step.ts';

export interface AdamWOptions {
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
  /** Decoupled weight decay, applied to matrices only (not biases or the temperature). @default 0.01 */
  weightDecay?: number;
  /**
   * Values the decay pulls each matrix towards instead of zero (decay on the difference, as in
   * L2-SP): an identity-started head decays towards I, i.e. a residual head W = I + delta with
   * the decay on delta, so fine-tuning cannot drift far from the pre-aligned space.
   * @default zero for every parameter
   */
  anchors?: Params;
}

/** AdamW (Loshchilov & Hutter) over Float32Arrays, updating the parameters in place. */
export class AdamW {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly anchors: Params | undefined;

  constructor(options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.anchors = options.anchors;
  }

  step(params: Params, grads: Params, lr: number, decays: (name: string) => boolean = isMatrix): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    const { beta1, beta2, eps } = this;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (g === undefined) continue;
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (m === undefined || v === undefined) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const decay = decays(name) ? 1 - lr * this.weightDecay : 1;
      const anchor = decay === 1 ? undefined : this.anchors?.get(name);
      // lr/c1 * m / (sqrt(v/c2) + eps) rewritten as (lr*sqrt(c2)/c1) * m / (sqrt(v) + eps*sqrt(c2)):
      // one square root and one division per element in the hot loop.
      const sc2 = Math.sqrt(c2);
      const stepSize = (lr * sc2) / c1;
      const epsHat = eps * sc2;
      const ob1 = 1 - beta1;
      const ob2 = 1 - beta2;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] as number;
        const mi = beta1 * (m[i] as number) + ob1 * gi;
        const vi = beta2 * (v[i] as number) + ob2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        // p*decay + a*(1-decay) = p - lr*wd*(p - a): decay towards the anchor a (zero by default).
        const pulled =
          anchor === undefined
            ? (p[i] as number) * decay
            : (p[i] as number) * decay + (anchor[i] as number) * (1 - decay);
        p[i] = pulled - (stepSize * mi) / (Math.sqrt(vi) + epsHat);
      }
    }
  }
}

function isMatrix(name: string): boolean {
  return /\.w\d$/.test(name);
}

/** Learning rate at `step` (0-based): linear warm-up to `peak`, then cosine decay to `peak * floor`. */
export function learningRate(
  step: number,
  totalSteps: number,
  peak: number,
  warmupSteps: number,
  floor = 0.02,
): number {
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
