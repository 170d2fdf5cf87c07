import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/onnx/onnx-proto.ts';
import { buildBaseResNet, RESNET_50, type BaseResNetConfig } from '../../src/models/tiny/base-resnet.ts';
import { baseResNetMacs, bertMacs } from '../../src/models/tiny/flops.ts';
import { BERT_BASE } from '../../src/models/tiny/generate.ts';
import { Rng } from '../../src/models/tiny/rng.ts';

// The base-size models themselves take ~20 s and 530 MB to generate: benchmarks only. These tests
// check the same builder at a reduced width and depth, and the compute formula at full size.

const REDUCED: BaseResNetConfig = {
  imageSize: 32,
  embeddingSize: 8,
  hiddenSizes: [16, 32, 64, 128],
  depths: [2, 1, 2, 1],
};

interface Graph {
  graph: { node: { opType: string }[]; output: { name: string }[] };
}

describe('base-size stand-in models', () => {
  it('builds a bottleneck ResNet: 3 convolutions per block, a projection shortcut per stage, pooled to the last width', async () => {
    const bytes = buildBaseResNet(REDUCED, new Rng(1));
    const model = decodeModel(bytes) as unknown as Graph;
    const convs = model.graph.node.filter((n) => n.opType === 'Conv').length;
    const blocks = REDUCED.depths.reduce((a, b) => a + b, 0);
    expect(convs).toBe(1 + 3 * blocks + REDUCED.hiddenSizes.length);
    expect(model.graph.node.filter((n) => n.opType === 'MaxPool')).toHaveLength(1);
    expect(model.graph.output.map((o) => o.name)).toEqual(['pooler_output']);

    const session = await ort.InferenceSession.create(bytes);
    try {
      const pixels = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i / 7));
      const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels, [2, 3, 32, 32]) });
      const pooled = out.pooler_output!;
      expect(pooled.dims).toEqual([2, 128]);
      const values = pooled.data as Float32Array;
      expect(values.every((v) => Number.isFinite(v) && v >= 0)).toBe(true); // ReLU then average
      expect(values.slice(0, 128)).not.toEqual(values.slice(128)); // two different images
    } finally {
      await session.release();
    }
  });

  it('costs what the real models cost: ResNet-50 4.09 GMACs at 224x224, BERT-base ~22 GFLOPs per 128 tokens', () => {
    expect(baseResNetMacs(RESNET_50) / 1e9).toBeCloseTo(4.09, 2);
    expect((2 * bertMacs(BERT_BASE, 128)) / 1e9).toBeCloseTo(22.35, 1);
    expect(BERT_BASE).toMatchObject({ numLayers: 12, hiddenSize: 768, numHeads: 12, vocabSize: 30_522 });
    expect(RESNET_50).toMatchObject({ depths: [3, 4, 6, 3], hiddenSizes: [256, 512, 1024, 2048] });
  });
});
