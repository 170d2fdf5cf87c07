import { existsSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { appendGraphOutputs, viewGraph, type GraphNode, type GraphView } from '../onnx/graph-rewrite.ts';
import type { Dim } from '../onnx/graph-builder.ts';
import type { FeatureSource, ModelPart } from './profiles.ts';

/**
 * Gets a profile's features out of a head-only export: finds the inner tensor by the graph's
 * structure and writes `<name>.features.onnx` beside the original, with that tensor added to the
 * outputs. The rewritten file is the one the session loads and the fingerprint hashes.
 */

export interface FeatureGraph {
  /** The ONNX file to load, relative to the part directory. */
  onnx: string;
  /** Files whose bytes make the encoder's fingerprint: the part's files plus the rewritten graph. */
  files: readonly string[];
  /** The inner value exposed, when the graph was rewritten. */
  exposed?: string;
}

/** `onnx/model.onnx` -> `onnx/model.features.onnx` */
export function featuresFileOf(onnx: string): string {
  return onnx.replace(/\.onnx$/, '') + '.features.onnx';
}

/**
 * The graph a part's encoder runs. Parts without `exposeFrom` use their ONNX file as it is (the
 * encoder refuses it if the output is missing). Otherwise an up-to-date rewritten copy is reused,
 * or written now; an original that already has the output (a feature-extraction export) is used
 * unchanged. A graph without the expected structure is MODEL_INVALID, naming file, outputs and fix.
 */
export async function prepareFeatureGraph(
  dir: string,
  part: ModelPart,
  label: string,
): Promise<FeatureGraph> {
  const source = part.features.exposeFrom;
  const files = [...part.files, ...Object.keys(part.supplied ?? {})];
  if (source === undefined) return { onnx: part.onnx, files };
  const rewritten = featuresFileOf(part.onnx);
  const sourceFile = path.join(dir, part.onnx);
  const targetFile = path.join(dir, rewritten);
  const stamp = await sourceStamp(sourceFile);
  const withRewrite = { onnx: rewritten, files: [...files, rewritten] };
  if (existsSync(targetFile) && (await readStamp(targetFile)) === stamp) return withRewrite;

  const bytes = await readFile(sourceFile);
  const view = viewGraph(bytes);
  if (view.outputs.some((o) => o.name === part.features.output)) return { onnx: part.onnx, files };
  const found = findFeatureTensor(view, source);
  if (typeof found === 'string') throw refusal(sourceFile, view, part, label, found);
  const out = appendGraphOutputs(
    bytes,
    view,
    [{ from: found.value, name: part.features.output, elemType: 'float32', dims: found.dims }],
    { 'crossmodal.features.source': stamp, 'crossmodal.features.from': found.value },
  );
  // Written under a temp name and renamed, so a crash never leaves a half file that looks current.
  // The stamp goes last: until it is written, the next load rewrites again.
  const tmp = `${targetFile}.tmp-${process.pid}`;
  await writeFile(tmp, out);
  await rename(tmp, targetFile);
  await writeFile(
    `${targetFile}.json`,
    `${JSON.stringify({ source: part.onnx, stamp, from: found.value })}\n`,
  );
  return { ...withRewrite, exposed: found.value };
}

/** Size and mtime of the original: a re-fetched or replaced file gets a new rewrite. */
async function sourceStamp(file: string): Promise<string> {
  const s = await stat(file).catch((error: unknown) => {
    throw new AppError('MODEL_MISSING', `cannot read ${file}`, { cause: error });
  });
  return `${s.size}:${Math.round(s.mtimeMs)}`;
}

async function readStamp(targetFile: string): Promise<string | undefined> {
  try {
    const meta = JSON.parse(await readFile(`${targetFile}.json`, 'utf8')) as { stamp?: unknown };
    return typeof meta.stamp === 'string' ? meta.stamp : undefined;
  } catch {
    return undefined; // no or unreadable sidecar: rewrite again
  }
}

function refusal(file: string, view: GraphView, part: ModelPart, label: string, why: string): AppError {
  const outputs = view.outputs.map((o) => `${o.name}[${(o.dims ?? []).join(',')}]`).join(', ');
  return new AppError(
    'MODEL_INVALID',
    `${label}: ${file} has outputs ${outputs}, which cannot give ${part.features.describe}: ${why}. ` +
      `Fix: put the files of ${part.repo} at revision ${part.revision} there ` +
      `(\`npm run models -- fetch\`), or an export whose graph outputs ${part.features.output}.`,
    { details: { file, outputs: view.outputs.map((o) => o.name), expected: part.features.output } },
  );
}

interface Found {
  value: string;
  dims: Dim[];
}

/** The inner tensor for `source`, or why it cannot be found. */
export function findFeatureTensor(view: GraphView, source: FeatureSource): Found | string {
  const logits = view.outputs.find((o) => o.name === 'logits');
  if (logits === undefined) return 'it has no logits output to walk back from';
  return source === 'classifier-input' ? classifierInput(view) : mlmHeadInput(view);
}

/** A matrix product with a constant weight: [data input, weight input], or undefined. */
function weightedProduct(view: GraphView, node: GraphNode): [string, string] | undefined {
  if (node.opType !== 'Gemm' && node.opType !== 'MatMul') return undefined;
  const [a, b] = node.inputs;
  if (a === undefined || b === undefined) return undefined;
  if (!view.isConstant(a) && view.isConstant(b)) return [a, b];
  if (view.isConstant(a) && !view.isConstant(b)) return [b, a];
  return undefined;
}

/** Skips bias adds (`MatMul -> Add(bias)`), the way a Linear on 3-D input is exported. */
function throughBias(view: GraphView, value: string): GraphNode | undefined {
  const node = view.producer(value);
  if (node?.opType === 'Add' && node.inputs.some((i) => view.isConstant(i))) {
    return view.producer(node.inputs.find((i) => !view.isConstant(i)) ?? '');
  }
  return node;
}

/** Ops that pass a value through unchanged at inference. */
const PASS_THROUGH = new Set(['Dropout', 'Identity']);

/**
 * The final classifier's data input, when it is one of the two known feature layouts:
 * ResNetForImageClassification's `GlobalAveragePool -> Flatten -> Gemm -> logits` (the pooled
 * vector), or torchvision VGG's `Gemm (fc7) -> Relu [-> Dropout] -> Gemm -> logits` (fc7 after
 * its ReLU). The classifier's weight gives the width.
 */
function classifierInput(view: GraphView): Found | string {
  const head = throughBias(view, 'logits');
  const product = head && weightedProduct(view, head);
  if (head === undefined || product === undefined)
    return `logits is made by ${head?.opType ?? 'nothing'}, not a classifier (Gemm/MatMul with a constant weight)`;
  const [features, weight] = product;
  let producer = view.producer(features);
  while (producer !== undefined && PASS_THROUGH.has(producer.opType))
    producer = view.producer(producer.inputs[0] ?? '');
  const before = producer && throughBias(view, producer.inputs[0] ?? '');
  const pooled =
    ['Flatten', 'Reshape', 'Squeeze'].includes(producer?.opType ?? '') &&
    ['GlobalAveragePool', 'ReduceMean'].includes(before?.opType ?? '');
  const fc =
    producer?.opType === 'Relu' && before !== undefined && weightedProduct(view, before) !== undefined;
  if (!pooled && !fc) {
    return `the classifier's input comes from ${producer?.opType ?? 'a graph input'} <- ${before?.opType ?? '?'}, not GlobalAveragePool -> Flatten or a ReLU'd fully connected layer`;
  }
  const w = view.initializers.get(weight);
  const transposed = head.opType === 'Gemm' && head.ints.transB === 1;
  const width = w?.length === 2 ? (transposed ? w[1] : w[0]) : undefined;
  const batch = view.inputs[0]?.dims?.[0] ?? 'batch_size';
  return { value: features, dims: [batch, width ?? 'features'] };
}

/**
 * BertForMaskedLM: `hidden -> dense (H x H) -> GELU -> LayerNorm -> decoder (H x V) -> logits`.
 * Walking back from logits, the nearest matrix product with a constant weight is the decoder and
 * the next is the head's dense layer; that layer's data input is the encoder's last hidden state.
 * (GELU and LayerNorm have no weighted matrix products, fused or decomposed.)
 */
function mlmHeadInput(view: GraphView): Found | string {
  const order = new Map(view.nodes.map((n, i) => [n, i]));
  const ancestors = new Set<GraphNode>();
  const stack = ['logits'];
  while (stack.length > 0) {
    const node = view.producer(stack.pop()!);
    if (node === undefined || ancestors.has(node)) continue;
    ancestors.add(node);
    for (const input of node.inputs) if (!view.isConstant(input)) stack.push(input);
  }
  const products = [...ancestors]
    .filter((n) => weightedProduct(view, n) !== undefined)
    .sort((a, b) => order.get(b)! - order.get(a)!);
  const dense = products[1];
  if (dense === undefined) return 'no masked-LM head (dense -> decoder) feeds logits';
  const [hidden, weight] = weightedProduct(view, dense)!;
  const w = view.initializers.get(weight);
  if (w !== undefined && (w.length !== 2 || w[0] !== w[1])) {
    return `the layer before the decoder has a ${w.join('x')} weight, not the head's square dense layer`;
  }
  const ids = view.inputs.find((i) => i.name === 'input_ids')?.dims;
  return {
    value: hidden,
    dims: [ids?.[0] ?? 'batch_size', ids?.[1] ?? 'sequence_length', w?.[0] ?? 'hidden_size'],
  };
}
