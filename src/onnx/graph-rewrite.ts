import { invariant } from '../errors.ts';
import { valueInfo, type Dim, type ElemType } from './graph-builder.ts';
import { decodeModel, ModelProtoType } from './onnx-proto.ts';

/**
 * Reading an exported ONNX graph's structure, and exposing one of its inner tensors as an extra
 * graph output. Used to get features out of hub exports that only output a head's result
 * (a classifier's `logits`, a masked-LM's `logits`).
 */

export interface GraphNode {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** Integer attributes (`transB`, `axis`...). */
  ints: Readonly<Record<string, number>>;
}

export interface GraphValue {
  name: string;
  /** ONNX element type number (1 = float32). */
  elemType: number | undefined;
  dims: readonly Dim[] | undefined;
}

/** A read-only view of a model's main graph: enough to walk from an output back to its sources. */
export interface GraphView {
  readonly nodes: readonly GraphNode[];
  readonly inputs: readonly GraphValue[];
  readonly outputs: readonly GraphValue[];
  /** Initializer name -> dims. */
  readonly initializers: ReadonlyMap<string, readonly number[]>;
  /** The node that computes `value`; undefined for inputs and initializers. */
  producer(value: string): GraphNode | undefined;
  /** True for initializers and values computed from constants only (folded weights, Constant). */
  isConstant(value: string): boolean;
  /** Every value name the graph defines (inputs, initializers, node outputs). */
  has(value: string): boolean;
}

interface RawDim {
  dimValue?: number;
  dimParam?: string;
}
interface RawValueInfo {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: RawDim[] } } };
}
interface RawGraph {
  node?: {
    opType?: string;
    name?: string;
    input?: string[];
    output?: string[];
    attribute?: { name?: string; i?: number }[];
  }[];
  input?: RawValueInfo[];
  output?: RawValueInfo[];
  initializer?: { name?: string; dims?: number[] }[];
}

/** Decodes a model's graph structure (weights stay as views into `bytes`). */
export function viewGraph(bytes: Uint8Array): GraphView {
  const graph = (decodeModel(bytes).graph ?? {}) as RawGraph;
  const nodes: GraphNode[] = (graph.node ?? []).map((n, i) => ({
    opType: n.opType ?? '',
    name: n.name ?? `node_${i}`,
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    ints: Object.fromEntries(
      (n.attribute ?? []).filter((a) => typeof a.i === 'number').map((a) => [a.name ?? '', a.i!]),
    ),
  }));
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t.dims ?? []]));
  const producers = new Map<string, GraphNode>();
  for (const node of nodes) for (const out of node.outputs) producers.set(out, node);
  const inputs = (graph.input ?? []).map(toValue).filter((v) => !initializers.has(v.name));
  const constants = new Map<string, boolean>();
  const isConstant = (value: string): boolean => {
    if (initializers.has(value) || value === '') return true;
    const known = constants.get(value);
    if (known !== undefined) return known;
    constants.set(value, false); // guards against cycles in a malformed graph
    const node = producers.get(value);
    const result = node !== undefined && node.inputs.every(isConstant);
    constants.set(value, result);
    return result;
  };
  return {
    nodes,
    inputs,
    outputs: (graph.output ?? []).map(toValue),
    initializers,
    producer: (value) => producers.get(value),
    isConstant,
    has: (value) => initializers.has(value) || producers.has(value) || inputs.some((i) => i.name === value),
  };
}

function toValue(info: RawValueInfo): GraphValue {
  const tensor = info.type?.tensorType;
  return {
    name: info.name ?? '',
    elemType: tensor?.elemType,
    dims: tensor?.shape?.dim?.map((d) => d.dimParam ?? d.dimValue ?? '?'),
  };
}

/** One inner value to publish as a graph output under a new name. */
export interface ExposedOutput {
  /** The inner value. */
  from: string;
  /** The new output's name. */
  name: string;
  elemType: ElemType;
  dims: readonly Dim[];
}

/**
 * Returns `bytes` plus a trailer that adds an `Identity(from) -> name` node and the output to the
 * graph. Protobuf merges a repeated occurrence of an embedded message field into the first, and
 * appends repeated fields, so every byte of the original (fields this project's partial schema
 * does not know included) is kept as it was; only the new node, output and metadata are added.
 */
export function appendGraphOutputs(
  bytes: Uint8Array,
  view: GraphView,
  outputs: readonly ExposedOutput[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  for (const o of outputs) {
    invariant(view.has(o.from), `graph has no value "${o.from}" to expose`);
    invariant(!view.has(o.name), `graph already defines "${o.name}"`);
  }
  const trailer = ModelProtoType.encode(
    ModelProtoType.fromObject({
      graph: {
        node: outputs.map((o) => ({
          input: [o.from],
          output: [o.name],
          name: `expose_${o.name}`,
          opType: 'Identity',
          domain: '',
        })),
        output: outputs.map((o) => valueInfo(o.name, o.elemType, o.dims)),
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    }),
  ).finish();
  const out = new Uint8Array(bytes.byteLength + trailer.byteLength);
  out.set(bytes, 0);
  out.set(trailer, bytes.byteLength);
  return out;
}
