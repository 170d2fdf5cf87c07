import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitialWeights, MAX_LOGIT_SCALE, type HeadKind } from '../../src/models/projection.ts';
import { createRng } from '../../src/train/rng.ts';
import { TrainStep, type Params } from '../../src/train/train-step.ts';
import { paramsFromWeights } from '../../src/train/trainer-params.ts';
import { silentLogger } from '../../src/logger.ts';

const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger: silentLogger };

/** Float64 reference of the forward pass and symmetric InfoNCE, written independently of the graph. */
function referenceLoss(
  head: HeadKind,
  p: Params,
  xt: Float32Array,
  xi: Float32Array,
  b: number,
  dt: number,
  di: number,
  hidden: number,
  d: number,
): number {
  const project = (side: string, x: Float32Array, inDims: number): number[][] => {
    const first = head === 'mlp' ? hidden : d;
    const w1 = p.get(`${side}.w1`)!,
      b1 = p.get(`${side}.b1`)!;
    return Array.from({ length: b }, (_, r) => {
      let a = Array.from({ length: first }, (_, j) => {
        let s = b1[j]!;
        for (let k = 0; k < inDims; k++) s += x[r * inDims + k]! * w1[k * first + j]!;
        return s;
      });
      if (head === 'mlp') {
        const w2 = p.get(`${side}.w2`)!,
          b2 = p.get(`${side}.b2`)!;
        const h = a.map((v) => Math.max(0, v));
        a = Array.from({ length: d }, (_, j) => {
          let s = b2[j]!;
          for (let k = 0; k < hidden; k++) s += h[k]! * w2[k * d + j]!;
          return s;
        });
      }
      const n = Math.sqrt(a.reduce((s, v) => s + v * v, 0));
      return a.map((v) => v / n);
    });
  };
  const zt = project('text', xt, dt);
  const zi = project('image', xi, di);
  const scale = Math.exp(Math.min(MAX_LOGIT_SCALE, Math.max(0, p.get('logitScale')![0]!)));
  const L = zt.map((t) => zi.map((i) => scale * t.reduce((s, v, k) => s + v * i[k]!, 0)));
  let loss = 0;
  for (let i = 0; i < b; i++) {
    const row = L[i]!;
    const col = L.map((r) => r[i]!);
    const lse = (v: number[]) => {
      const m = Math.max(...v);
      return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
    };
    loss += lse(row) - row[i]! + lse(col) - col[i]!;
  }
  return loss / (2 * b);
}

describe.each(['mlp', 'linear'] as const)('training-step graph (%s heads)', (head) => {
  const [b, dt, di, hidden, d] = [5, 6, 7, 8, 4];
  let step: TrainStep;
  let params: Params;
  const rng = createRng(7);
  const xt = Float32Array.from({ length: b * dt }, () => rng.normal());
  const xi = Float32Array.from({ length: b * di }, () => rng.normal());
  beforeAll(async () => {
    step = await TrainStep.create(
      { head, textDims: dt, imageDims: di, hiddenDims: hidden, dims: d },
      runtime,
    );
    const weights = createInitialWeights({
      textDims: dt,
      imageDims: di,
      dims: d,
      hiddenDims: hidden,
      head,
      seed: 3,
    });
    for (const side of ['text', 'image'] as const) {
      weights[side].b1 = weights[side].b1.map(() => rng.normal() * 0.1);
    }
    params = paramsFromWeights(weights);
    params.set('logitScale', new Float32Array([1.3]));
  });
  afterAll(async () => step.close());

  it('computes the same loss as an independent float64 implementation', async () => {
    const { loss } = await step.run(xt, xi, b, params);
    expect(loss).toBeCloseTo(referenceLoss(head, params, xt, xi, b, dt, di, hidden, d), 4);
  });

  it('returns gradients that match central finite differences of the loss', async () => {
    const { grads } = await step.run(xt, xi, b, params);
    const eps = 1e-3;
    let checked = 0;
    for (const name of step.params) {
      const value = params.get(name)!;
      for (const idx of [0, Math.floor(value.length / 2), value.length - 1]) {
        const original = value[idx]!;
        value[idx] = original + eps;
        const hi = value[idx]!;
        const up = referenceLoss(head, params, xt, xi, b, dt, di, hidden, d);
        value[idx] = original - eps;
        const lo = value[idx]!;
        const down = referenceLoss(head, params, xt, xi, b, dt, di, hidden, d);
        value[idx] = original;
        const numeric = (up - down) / (hi - lo);
        expect(grads.get(name)![idx]!, `${name}[${idx}]`).toBeCloseTo(numeric, 3);
        checked++;
      }
    }
    expect(checked).toBe(step.params.length * 3);
  });
});
