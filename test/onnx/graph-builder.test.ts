import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { float, GraphBuilder } from '../../src/onnx/graph-builder.ts';
import { decodeModel } from '../../src/onnx/onnx-proto.ts';
import { createSession } from '../../src/onnx/session.ts';
import { silentLogger } from '../../src/logger.ts';

const cpu = { device: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, logger: silentLogger };

function affine(): Uint8Array {
  const g = new GraphBuilder('affine');
  g.input('x', 'float32', ['batch', 3]);
  g.initializer('w', [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]));
  g.initializer('b', [2], new Float32Array([0.5, -1]));
  g.node('MatMul', ['x', 'w'], ['xw']);
  g.node('Add', ['xw', 'b'], ['y']);
  g.output('y', 'float32', ['batch', 2]);
  return g.toBytes();
}

describe('GraphBuilder', () => {
  it('builds a MatMul+Add graph that onnxruntime runs with a dynamic batch', async () => {
    const session = await createSession(affine(), cpu);
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['y']);
    const x = new ort.Tensor('float32', new Float32Array([1, 0, 0, 1, 1, 1]), [2, 3]);
    const { y } = await session.run({ x });
    expect(y!.dims).toEqual([2, 2]);
    expect(Array.from(y!.data as Float32Array)).toEqual([1.5, 1, 9.5, 11]);
    await session.release();
  });

  it('writes identical bytes for identical calls and a readable ModelProto', () => {
    const a = affine();
    expect(Buffer.from(a).equals(Buffer.from(affine()))).toBe(true);
    const model = decodeModel(a) as {
      irVersion: number;
      opsetImport: { version: number }[];
      graph: { node: { opType: string }[] };
    };
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport[0]!.version).toBe(17);
    expect(model.graph.node.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
  });

  it('encodes int64 initializers, float/int attributes and symbolic dims', async () => {
    const g = new GraphBuilder('gemm');
    g.input('x', 'float32', ['n', 2]);
    g.initializer('w', [2, 2], new Float32Array([1, 0, 0, 1]));
    const shape = g.constant([2], new BigInt64Array([1n, -1n]), 'shape');
    // alpha=1 must still be a FLOAT attribute: float() forces it.
    const gemm = g.op('Gemm', ['x', 'w'], { alpha: float(2), transB: 1 });
    const flat = g.op('Reshape', [gemm, shape]);
    const sum = g.op('ReduceSum', [flat], { keepdims: 0 });
    g.node('Identity', [sum], ['s']);
    g.output('s', 'float32', []);
    const session = await createSession(g.toBytes(), cpu);
    const { s } = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]) });
    expect(Array.from(s!.data as Float32Array)).toEqual([20]);
    await session.release();
  });

  it('rejects a node that reads an undefined value', () => {
    const g = new GraphBuilder();
    g.input('x', 'float32', [1]);
    expect(() => g.node('Relu', ['nope'], ['y'])).toThrow(/input "nope" is not defined/);
    expect(() => g.node('Relu', ['x'], ['x'])).toThrow(/defined twice/);
  });
});
