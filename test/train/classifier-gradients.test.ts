import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  branchesOf,
  classifierFromWeights,
  fusedWidth,
  type ClassifierShape,
} from '../../src/models/classifier.ts';
import { silentLogger } from '../../src/logger.ts';
import { ClassifierStep } from '../../src/train/classifier-step.ts';
import { initialClassifierParams } from '../../src/train/fit-classifier.ts';
import { createRng } from '../../src/train/rng.ts';
import type { Params } from '../../src/train/train-step.ts';

const runtime = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger: silentLogger };

/** Float64 forward pass and mean cross-entropy, written independently of the ONNX graph. */
function reference(
  s: ClassifierShape,
  p: Params,
  x: Record<'text' | 'image', Float32Array>,
  labels: number[],
  mask: Float32Array,
): { loss: number; probs: number[][] } {
  const H = s.hiddenDims;
  const W = fusedWidth(s);
  const linear = (input: number[], w: Float32Array, b: Float32Array, out: number) =>
    Array.from({ length: out }, (_, j) => input.reduce((acc, v, k) => acc + v * w[k * out + j]!, b[j]!));
  let loss = 0;
  const probs = labels.map((label, r) => {
    const pre = branchesOf(s.inputs).map((side) => {
      const d = side === 'text' ? s.textDims : s.imageDims;
      const row = Array.from(x[side].subarray(r * d, (r + 1) * d));
      return linear(row, p.get(`${side}.w1`)!, p.get(`${side}.b1`)!, H);
    });
    const fused =
      s.fusion === 'concat' && pre.length === 2 ? pre.flat() : pre[0]!.map((v, j) => v + (pre[1]?.[j] ?? 0));
    const h = fused.map((v, j) => Math.max(0, v) * mask[r * W + j]!);
    const u = linear(h, p.get('hidden.w2')!, p.get('hidden.b2')!, H);
    const logits = linear(u, p.get('out.w3')!, p.get('out.b3')!, s.classes);
    const m = Math.max(...logits);
    const z = logits.reduce((acc, v) => acc + Math.exp(v - m), 0);
    loss -= logits[label]! - m - Math.log(z);
    return logits.map((v) => Math.exp(v - m) / z);
  });
  return { loss: loss / labels.length, probs };
}

const cases: ClassifierShape[] = [
  { fusion: 'sum', inputs: 'both', textDims: 5, imageDims: 7, hiddenDims: 6, classes: 3 },
  { fusion: 'concat', inputs: 'both', textDims: 5, imageDims: 7, hiddenDims: 6, classes: 3 },
  { fusion: 'sum', inputs: 'text', textDims: 5, imageDims: 7, hiddenDims: 6, classes: 2 },
  { fusion: 'sum', inputs: 'image', textDims: 5, imageDims: 7, hiddenDims: 6, classes: 2 },
];

describe.each(cases)('classifier training step ($fusion fusion, $inputs)', (shape) => {
  const b = 6;
  const rng = createRng(11);
  const x = {
    text: Float32Array.from({ length: b * shape.textDims }, () => rng.normal()),
    image: Float32Array.from({ length: b * shape.imageDims }, () => rng.normal()),
  };
  const labels = Array.from({ length: b }, (_, i) => i % shape.classes);
  const targets = new Float32Array(b * shape.classes);
  labels.forEach((l, i) => (targets[i * shape.classes + l] = 1));
  // Dropout as training applies it: some units zeroed, the rest scaled by 1 / (1 - p).
  const mask = Float32Array.from({ length: b * fusedWidth(shape) }, (_, i) => (i % 7 === 3 ? 0 : 1 / 0.9));
  let step: ClassifierStep;
  let params: Params;
  beforeAll(async () => {
    step = await ClassifierStep.create(shape, runtime);
    params = initialClassifierParams(shape, 5);
    // Non-zero biases, so that every bias gradient is exercised away from the initial symmetry.
    for (const [name, value] of params)
      if (/\.b\d$/.test(name)) value.forEach((_, i) => (value[i] = rng.normal() * 0.3));
  });
  afterAll(async () => step.close());

  it('computes the same loss as an independent float64 implementation', async () => {
    const { loss } = await step.run(x, targets, mask, b, params);
    expect(loss).toBeCloseTo(reference(shape, params, x, labels, mask).loss, 5);
  });

  it('returns gradients that match central finite differences of the loss', async () => {
    const { grads } = await step.run(x, targets, mask, b, params);
    const eps = 1e-3;
    let checked = 0;
    for (const [name] of step.params) {
      const value = params.get(name)!;
      for (const idx of [0, Math.floor(value.length / 2), value.length - 1]) {
        const original = value[idx]!;
        value[idx] = original + eps;
        const hi = value[idx]!;
        const up = reference(shape, params, x, labels, mask).loss;
        value[idx] = original - eps;
        const lo = value[idx]!;
        const down = reference(shape, params, x, labels, mask).loss;
        value[idx] = original;
        const numeric = (up - down) / (hi - lo);
        expect(grads.get(name)![idx]!, `${name}[${idx}]`).toBeCloseTo(numeric, 3);
        checked++;
      }
    }
    expect(checked).toBe(step.params.length * 3);
  });

  it('infers the same probabilities as the reference (identity standardisation, no dropout)', async () => {
    const tensors: Record<string, Float32Array> = Object.fromEntries(params);
    for (const side of branchesOf(shape.inputs)) {
      const d = side === 'text' ? shape.textDims : shape.imageDims;
      tensors[`${side}.mean`] = new Float32Array(d);
      tensors[`${side}.invStd`] = new Float32Array(d).fill(1);
    }
    const labelNames = Array.from({ length: shape.classes }, (_, i) => `c${i}`);
    const model = await classifierFromWeights({ ...shape, labels: labelNames, tensors }, runtime);
    try {
      const probs = await model.predict(x, b);
      const ones = new Float32Array(b * fusedWidth(shape)).fill(1);
      const want = reference(shape, params, x, labels, ones).probs.flat();
      expect(probs.length).toBe(want.length);
      want.forEach((v, i) => expect(probs[i]!, `probs[${i}]`).toBeCloseTo(v, 5));
    } finally {
      await model.close();
    }
  });
});
