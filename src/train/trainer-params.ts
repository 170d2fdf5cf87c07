import type { HeadWeights, ProjectionWeights } from '../models/projection.ts';
import type { Params } from './train-step.ts';

/** The trainable tensors of a projection, by step-graph name (shared arrays, not copies). */
export function paramsFromWeights(w: ProjectionWeights): Params {
  const params: Params = new Map();
  for (const side of ['text', 'image'] as const) {
    const h = w[side];
    params.set(`${side}.w1`, h.w1);
    params.set(`${side}.b1`, h.b1);
    if (h.w2 !== undefined && h.b2 !== undefined) {
      params.set(`${side}.w2`, h.w2);
      params.set(`${side}.b2`, h.b2);
    }
  }
  params.set('logitScale', new Float32Array([w.logitScale]));
  return params;
}

/** A deep copy of the weights with the given parameter values (for keeping the best epoch). */
export function weightsWithParams(w: ProjectionWeights, params: Params): ProjectionWeights {
  const head = (side: 'text' | 'image'): HeadWeights => {
    const out: HeadWeights = {
      mean: w[side].mean.slice(),
      invStd: w[side].invStd.slice(),
      w1: params.get(`${side}.w1`)!.slice(),
      b1: params.get(`${side}.b1`)!.slice(),
    };
    if (w.head === 'mlp') {
      out.w2 = params.get(`${side}.w2`)!.slice();
      out.b2 = params.get(`${side}.b2`)!.slice();
    }
    return out;
  };
  return { ...w, logitScale: params.get('logitScale')![0]!, text: head('text'), image: head('image') };
}
