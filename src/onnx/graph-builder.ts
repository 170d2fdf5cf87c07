import { invariant } from '../errors.ts';
import { ATTRIBUTE_TYPE, DATA_TYPE, ModelProtoType } from './onnx-proto.ts';

/**
 * A small builder for ONNX models, used to write the tiny encoders, the projection heads and the
 * training-step graphs. It emits standard ONNX (IR 8, default opset 17) that onnxruntime runs.
 *
 * @example
 * ```ts
 * const g = new GraphBuilder('affine');
 * g.input('x', 'float32', ['batch', 4]);
 * g.initializer('w', [4, 2], new Float32Array(8).fill(0.5));
 * g.initializer('b', [2], new Float32Array([1, 2]));
 * g.node('MatMul', ['x', 'w'], ['xw']);
 * g.node('Add', ['xw', 'b'], ['y']);
 * g.output('y', 'float32', ['batch', 2]);
 * const bytes = g.toBytes(); // feed to createSession(bytes, ...)
 * ```
 */

/** Tensor element types the builder can declare and store. */
export type ElemType = keyof typeof DATA_TYPE;

/** A dimension: a fixed size, or a symbolic name such as `'batch'` (dynamic). */
export type Dim = number | string;

/** Typed arrays accepted as initializer data; the element type follows the array type. */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** Forces a float attribute (JS cannot tell `1.0` from `1`): `{ alpha: float(1) }`. */
export interface FloatAttr {
  readonly kind: 'float';
  readonly value: number;
}
/** Forces a float-list attribute: `{ scales: floats([1, 1, 2, 2]) }`. */
export interface FloatsAttr {
  readonly kind: 'floats';
  readonly value: readonly number[];
}
/** A tensor attribute, e.g. for `Constant` or `ConstantOfShape`. */
export interface TensorAttr {
  readonly kind: 'tensor';
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/**
 * An attribute value. Plain integers become INT, other numbers FLOAT; integer arrays become INTS,
 * arrays with a fraction FLOATS; strings become STRING. Use `float()`/`floats()` when a float
 * attribute happens to hold whole numbers (`Gemm alpha=1`, `LeakyRelu alpha`...).
 */
export type AttrValue =
  number | string | readonly number[] | readonly string[] | FloatAttr | FloatsAttr | TensorAttr;

export const float = (value: number): FloatAttr => ({ kind: 'float', value });
export const floats = (value: readonly number[]): FloatsAttr => ({ kind: 'floats', value });
export const tensorAttr = (dims: readonly number[], data: TensorData): TensorAttr => ({
  kind: 'tensor',
  dims,
  data,
});

export interface GraphBuilderOptions {
  /** Default-domain opset. @default 17 */
  opset?: number;
  /** @default 'crossmodal-search' */
  producerName?: string;
}

interface TensorProtoLike {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

export class GraphBuilder {
  readonly name: string;
  readonly opset: number;
  private readonly producerName: string;
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly inputs: Record<string, unknown>[] = [];
  private readonly outputs: Record<string, unknown>[] = [];
  private readonly initializers: TensorProtoLike[] = [];
  private readonly metadata: { key: string; value: string }[] = [];
  /** Every value name defined so far (inputs, initializers, node outputs): catches typos early. */
  private readonly defined = new Set<string>();
  private readonly outputNames = new Set<string>();
  private counter = 0;

  constructor(name = 'graph', options: GraphBuilderOptions = {}) {
    this.name = name;
    this.opset = options.opset ?? 17;
    this.producerName = options.producerName ?? 'crossmodal-search';
  }

  /** Declares a graph input. Returns its name. */
  input(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    this.define(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares a graph output; the value must be produced by a node, an input or an initializer. */
  output(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    invariant(!this.outputNames.has(name), `output "${name}" declared twice`);
    this.outputNames.add(name);
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Adds a constant weight tensor (stored as little-endian raw data). Returns its name. */
  initializer(name: string, dims: readonly number[], data: TensorData): string {
    const count = dims.reduce((a, b) => a * b, 1);
    invariant(
      data.length === count,
      `initializer "${name}": dims [${dims.join(',')}] need ${count} values, got ${data.length}`,
    );
    this.define(name);
    this.initializers.push(tensorProto(name, dims, data));
    return name;
  }

  /**
   * Adds one operator. `outputs` may be a single name. Inputs must already be defined (ONNX
   * graphs are topologically sorted); `''` marks an omitted optional input. Returns the outputs.
   */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[] | string,
    attrs: Readonly<Record<string, AttrValue>> = {},
    options: { name?: string; domain?: string } = {},
  ): string[] {
    const outs = typeof outputs === 'string' ? [outputs] : [...outputs];
    for (const input of inputs) {
      invariant(input === '' || this.defined.has(input), `${opType}: input "${input}" is not defined yet`);
    }
    for (const out of outs) this.define(out);
    this.nodes.push({
      input: [...inputs],
      output: outs,
      name: options.name ?? `${opType}_${this.nodes.length}`,
      opType,
      domain: options.domain ?? '',
      attribute: Object.entries(attrs).map(([key, value]) => attribute(key, value)),
    });
    return outs;
  }

  /** A fresh, unused value name with the given prefix, for intermediate results. */
  tmp(prefix = 't'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.defined.has(name));
    return name;
  }

  /** Shorthand: one-output node whose output gets a fresh name. Returns that name. */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, AttrValue>> = {},
    prefix?: string,
  ): string {
    const out = this.tmp(prefix ?? opType.toLowerCase());
    this.node(opType, inputs, [out], attrs);
    return out;
  }

  /** A float32 or int64 constant as an initializer with a fresh name (scalars: `dims = []`). */
  constant(dims: readonly number[], data: TensorData, prefix = 'const'): string {
    return this.initializer(this.tmp(prefix), dims, data);
  }

  /** Adds a `metadata_props` entry (shown by Netron, readable with `decodeModel`). */
  meta(key: string, value: string): this {
    this.metadata.push({ key, value });
    return this;
  }

  /** Serialises to ONNX protobuf bytes. Same calls in the same order -> identical bytes. */
  toBytes(): Uint8Array {
    for (const out of this.outputNames) invariant(this.defined.has(out), `output "${out}" is never produced`);
    const model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: this.opset }],
      producerName: this.producerName,
      producerVersion: '1',
      modelVersion: 1,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: this.metadata,
    };
    const message = ModelProtoType.fromObject(model);
    return ModelProtoType.encode(message).finish();
  }

  private define(name: string): void {
    invariant(name.length > 0, 'value names must not be empty');
    invariant(!this.defined.has(name), `value "${name}" is defined twice`);
    this.defined.add(name);
  }
}

function elemTypeOf(data: TensorData): ElemType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'uint8';
}

function tensorProto(name: string, dims: readonly number[], data: TensorData): TensorProtoLike {
  // raw_data is little-endian; typed arrays are in platform order, which is little-endian on
  // every platform onnxruntime-node ships for (x64, arm64).
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return { name, dims: [...dims], dataType: DATA_TYPE[elemTypeOf(data)], rawData: raw };
}

/** A `ValueInfoProto` as a plain object (graph inputs and outputs). */
export function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[]): Record<string, unknown> {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[elemType],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): Record<string, unknown> {
  if (typeof value === 'string')
    return { name, type: ATTRIBUTE_TYPE.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? { name, type: ATTRIBUTE_TYPE.INT, i: value }
      : { name, type: ATTRIBUTE_TYPE.FLOAT, f: value };
  }
  if (isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      return {
        name,
        type: ATTRIBUTE_TYPE.STRINGS,
        strings: (value as string[]).map((s) => new TextEncoder().encode(s)),
      };
    }
    const nums = value as readonly number[];
    return nums.every((v) => Number.isInteger(v))
      ? { name, type: ATTRIBUTE_TYPE.INTS, ints: [...nums] }
      : { name, type: ATTRIBUTE_TYPE.FLOATS, floats: [...nums] };
  }
  switch (value.kind) {
    case 'float':
      return { name, type: ATTRIBUTE_TYPE.FLOAT, f: value.value };
    case 'floats':
      return { name, type: ATTRIBUTE_TYPE.FLOATS, floats: [...value.value] };
    case 'tensor':
      return { name, type: ATTRIBUTE_TYPE.TENSOR, t: tensorProto('', value.dims, value.data) };
  }
}

function isArray(value: AttrValue): value is readonly number[] | readonly string[] {
  return Array.isArray(value);
}
