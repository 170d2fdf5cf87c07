import ort from 'onnxruntime-node';
import { createSession, type InferenceSession } from '../onnx/session.ts';
import type { ProjectionRuntime } from '../models/projection.ts';
import { buildStepGraph, stepParams, type StepGraphShape } from './step-graph.ts';

export type Params = Map<string, Float32Array>;

export interface StepResult {
  loss: number;
  grads: Params;
}

/** An ORT session over the training-step graph: features + weights in, loss + gradients out. */
export class TrainStep {
  readonly params: readonly string[];
  private constructor(
    private readonly session: InferenceSession,
    private readonly shape: StepGraphShape,
  ) {
    this.params = stepParams(shape.head);
  }

  static async create(shape: StepGraphShape, runtime: ProjectionRuntime): Promise<TrainStep> {
    return new TrainStep(await createSession(buildStepGraph(shape), { ...runtime, spinning: false }), shape);
  }

  /** `textFeatures` is [batch, textDims], `imageFeatures` [batch, imageDims]; row i of each is a pair. */
  async run(
    textFeatures: Float32Array,
    imageFeatures: Float32Array,
    batch: number,
    params: Params,
  ): Promise<StepResult> {
    const feeds: Record<string, ort.Tensor> = {
      'x.text': new ort.Tensor('float32', textFeatures, [batch, this.shape.textDims]),
      'x.image': new ort.Tensor('float32', imageFeatures, [batch, this.shape.imageDims]),
    };
    for (const name of this.params) {
      const value = params.get(name);
      if (value === undefined) throw new Error(`missing parameter ${name}`);
      feeds[name] = new ort.Tensor('float32', value, this.dimsOf(name));
    }
    const out = await this.session.run(feeds);
    const grads: Params = new Map();
    for (const name of this.params) grads.set(name, out[`grad.${name}`]!.data as Float32Array);
    return { loss: (out['loss']!.data as Float32Array)[0]!, grads };
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  private dimsOf(name: string): number[] {
    const s = this.shape;
    const first = s.head === 'mlp' ? s.hiddenDims : s.dims;
    if (name === 'logitScale') return [1];
    const [side, key] = name.split('.') as ['text' | 'image', string];
    const inDims = side === 'text' ? s.textDims : s.imageDims;
    switch (key) {
      case 'w1':
        return [inDims, first];
      case 'b1':
        return [first];
      case 'w2':
        return [s.hiddenDims, s.dims];
      default:
        return [s.dims];
    }
  }
}
