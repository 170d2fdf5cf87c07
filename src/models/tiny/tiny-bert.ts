import { float, GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from './rng.ts';

/** Shape of the tiny BERT; written to `config.json` with bert-base-uncased's key names. */
export interface TinyBertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
}

export const TINY_BERT_DEFAULTS: Omit<TinyBertConfig, 'vocabSize'> = {
  hiddenSize: 256,
  numLayers: 2,
  numHeads: 4,
  intermediateSize: 1024,
  maxPositions: 64,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
};

/**
 * A small post-LayerNorm BERT encoder, the same computation as Hugging Face `BertModel` and the
 * same graph interface as the bert-base-uncased ONNX export: int64 `input_ids`,
 * `attention_mask`, `token_type_ids` [batch, sequence] -> `last_hidden_state` [batch, sequence, H].
 * Random init: embeddings N(0, 0.02) like BERT's `initializer_range`, dense layers Xavier-normal
 * (so the random attention really mixes tokens), biases zero, LayerNorm identity.
 */
export function buildTinyBert(cfg: TinyBertConfig, rng: Rng): Uint8Array {
  const g = new GraphBuilder('tiny_bert');
  g.meta('model', 'tiny-bert').meta('hidden_size', String(cfg.hiddenSize));
  const hidden = addBertEncoder(g, cfg, rng);
  g.node('Identity', [hidden], ['last_hidden_state']);
  g.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', cfg.hiddenSize]);
  return g.toBytes();
}

/**
 * Adds BertModel's inputs (`input_ids`, `attention_mask`, `token_type_ids`), embeddings and
 * encoder layers to `g`; returns the name of the last hidden state [batch, sequence, H]. Shared by
 * the tiny model and the masked-LM stand-in, which puts a head on top.
 */
export function addBertEncoder(g: GraphBuilder, cfg: TinyBertConfig, rng: Rng): string {
  const H = cfg.hiddenSize;
  const heads = cfg.numHeads;
  const dh = H / heads;

  g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  g.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  g.input('token_type_ids', 'int64', ['batch_size', 'sequence_length']);

  const emb = rng.fork('embeddings');
  const wordEmb = g.initializer(
    'embeddings.word_embeddings.weight',
    [cfg.vocabSize, H],
    emb.normals(cfg.vocabSize * H, 0.02),
  );
  const posEmb = g.initializer(
    'embeddings.position_embeddings.weight',
    [cfg.maxPositions, H],
    emb.normals(cfg.maxPositions * H, 0.02),
  );
  const typeEmb = g.initializer(
    'embeddings.token_type_embeddings.weight',
    [cfg.typeVocabSize, H],
    emb.normals(cfg.typeVocabSize * H, 0.02),
  );

  const i64 = (values: number[]) => new BigInt64Array(values.map((v) => BigInt(v)));
  const f32 = (value: number) => new Float32Array([value]);

  // Position ids 0..T-1 from the runtime sequence length (dynamic padding per batch).
  const shape = g.op('Shape', ['input_ids']);
  const seqLen = g.op('Gather', [shape, g.constant([], i64([1]))], { axis: 0 });
  const positions = g.op('Range', [g.constant([], i64([0])), seqLen, g.constant([], i64([1]))]);
  const words = g.op('Gather', [wordEmb, 'input_ids'], { axis: 0 });
  const pos = g.op('Gather', [posEmb, positions], { axis: 0 });
  const types = g.op('Gather', [typeEmb, 'token_type_ids'], { axis: 0 });
  const summed = g.op('Add', [g.op('Add', [words, pos]), types]);
  let x = layerNorm(g, summed, H, cfg.layerNormEps, 'embeddings.LayerNorm');

  // Additive mask [B,1,1,T]: 0 where attended, -1e9 at padding, so padded keys get zero weight.
  const maskF = g.op('Cast', ['attention_mask'], { to: 1 });
  const inverted = g.op('Sub', [g.constant([], f32(1)), maskF]);
  const maskBias = g.op('Unsqueeze', [
    g.op('Mul', [inverted, g.constant([], f32(-1e9))]),
    g.constant([2], i64([1, 2])),
  ]);

  const splitHeads = g.constant([4], i64([0, 0, heads, dh]), 'split_heads');
  const mergeHeads = g.constant([3], i64([0, 0, H]), 'merge_heads');
  const scale = g.constant([], f32(1 / Math.sqrt(dh)), 'attn_scale');

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `encoder.layer.${l}`;
    const r = rng.fork(p);
    const q = g.op(
      'Transpose',
      [g.op('Reshape', [dense(g, r, x, H, H, `${p}.attention.self.query`), splitHeads])],
      { perm: [0, 2, 1, 3] },
    );
    const k = g.op(
      'Transpose',
      [g.op('Reshape', [dense(g, r, x, H, H, `${p}.attention.self.key`), splitHeads])],
      { perm: [0, 2, 3, 1] },
    );
    const v = g.op(
      'Transpose',
      [g.op('Reshape', [dense(g, r, x, H, H, `${p}.attention.self.value`), splitHeads])],
      { perm: [0, 2, 1, 3] },
    );
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), maskBias]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const context = g.op('Reshape', [
      g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }),
      mergeHeads,
    ]);
    const attnOut = dense(g, r, context, H, H, `${p}.attention.output.dense`);
    x = layerNorm(g, g.op('Add', [attnOut, x]), H, cfg.layerNormEps, `${p}.attention.output.LayerNorm`);

    const inter = gelu(g, dense(g, r, x, H, cfg.intermediateSize, `${p}.intermediate.dense`));
    const ffnOut = dense(g, r, inter, cfg.intermediateSize, H, `${p}.output.dense`);
    x = layerNorm(g, g.op('Add', [ffnOut, x]), H, cfg.layerNormEps, `${p}.output.LayerNorm`);
  }
  return x;
}

export function dense(
  g: GraphBuilder,
  rng: Rng,
  x: string,
  fanIn: number,
  fanOut: number,
  name: string,
): string {
  const std = Math.sqrt(2 / (fanIn + fanOut));
  const w = g.initializer(`${name}.weight`, [fanIn, fanOut], rng.normals(fanIn * fanOut, std));
  const b = g.initializer(`${name}.bias`, [fanOut], new Float32Array(fanOut));
  return g.op('Add', [g.op('MatMul', [x, w]), b]);
}

export function layerNorm(g: GraphBuilder, x: string, H: number, eps: number, name: string): string {
  const gamma = g.initializer(`${name}.weight`, [H], new Float32Array(H).fill(1));
  const beta = g.initializer(`${name}.bias`, [H], new Float32Array(H));
  return g.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: float(eps) });
}

/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)): opset 17 has no Gelu operator. */
export function gelu(g: GraphBuilder, x: string): string {
  const erf = g.op('Erf', [g.op('Div', [x, g.constant([], new Float32Array([Math.SQRT2]))])]);
  const onePlus = g.op('Add', [erf, g.constant([], new Float32Array([1]))]);
  return g.op('Mul', [g.op('Mul', [x, onePlus]), g.constant([], new Float32Array([0.5]))]);
}
