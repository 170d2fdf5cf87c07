import { GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from '../tiny/rng.ts';
import { dense, gelu, layerNorm } from '../tiny/tiny-bert.ts';

export interface StandinClipConfig {
  vocabSize: number;
  /** Text positions (CLIP: 77). */
  maxPositions: number;
  textHidden: number;
  visionHidden: number;
  imageSize: number;
  patchSize: number;
  /** Shared embedding width (ViT-B/32: 512). */
  projectionDim: number;
  /**
   * Declare `input_ids` as [batch_size, 77] like static-shape exports (NPU builds), instead of a
   * dynamic sequence length. @default false
   */
  staticLength?: boolean;
}

const i64 = (values: number[]) => new BigInt64Array(values.map((v) => BigInt(v)));

/** A pre-LN residual MLP per token: keeps the stand-in cheap yet not a bare embedding lookup. */
function tokenMlp(g: GraphBuilder, rng: Rng, x: string, H: number, name: string): string {
  const h = gelu(
    g,
    dense(g, rng, layerNorm(g, x, H, 1e-5, `${name}.layer_norm2`), H, 2 * H, `${name}.mlp.fc1`),
  );
  return g.op('Add', [x, dense(g, rng, h, 2 * H, H, `${name}.mlp.fc2`)]);
}

/**
 * The structure of Xenova/clip-vit-base-patch32's `onnx/text_model.onnx`
 * (CLIPTextModelWithProjection): `input_ids` [batch_size, sequence_length] only ->
 * `text_embeds` [batch_size, P] and `last_hidden_state`. As in CLIP, the pooled state is the
 * one at argmax(input_ids) (the end token has the highest id) and the projection has no bias.
 * Token-wise layers only, so padding after the end token cannot change the result (CLIP gets
 * the same from its causal mask).
 */
export function buildClipTextModel(cfg: StandinClipConfig, rng: Rng): Uint8Array {
  const H = cfg.textHidden;
  const g = new GraphBuilder('main_graph', { opset: 17 });
  g.input('input_ids', 'int64', ['batch_size', cfg.staticLength ? cfg.maxPositions : 'sequence_length']);
  const table = g.initializer(
    'text_model.embeddings.token_embedding.weight',
    [cfg.vocabSize, H],
    rng.fork('tok').normals(cfg.vocabSize * H, 0.5),
  );
  const posTable = g.initializer(
    'text_model.embeddings.position_embedding.weight',
    [cfg.maxPositions, H],
    rng.fork('pos').normals(cfg.maxPositions * H, 0.1),
  );
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.constant([], i64([1]))], { axis: 0 });
  const positions = g.op('Range', [g.constant([], i64([0])), seqLen, g.constant([], i64([1]))]);
  let x = g.op('Add', [
    g.op('Gather', [table, 'input_ids'], { axis: 0 }),
    g.op('Gather', [posTable, positions], { axis: 0 }),
  ]);
  x = tokenMlp(g, rng.fork('layer0'), x, H, 'text_model.encoder.layers.0');
  const hidden = layerNorm(g, x, H, 1e-5, 'text_model.final_layer_norm');
  g.node('Identity', [hidden], ['last_hidden_state']);

  // hidden[b, argmax(input_ids[b]), :] via GatherElements on an index broadcast to [B, 1, H].
  const eos = g.op('ArgMax', ['input_ids'], { axis: -1, keepdims: 1 });
  const index = g.op('Expand', [
    g.op('Unsqueeze', [eos, g.constant([1], i64([2]))]),
    g.op('Concat', [g.op('Shape', [eos]), g.constant([1], i64([H]))], { axis: 0 }),
  ]);
  const pooled = g.op('Squeeze', [
    g.op('GatherElements', [hidden, index], { axis: 1 }),
    g.constant([1], i64([1])),
  ]);
  const projection = g.initializer(
    'text_projection.weight',
    [H, cfg.projectionDim],
    rng.fork('proj').normals(H * cfg.projectionDim, 1 / Math.sqrt(H)),
  );
  g.node('MatMul', [pooled, projection], ['text_embeds']);
  g.output('text_embeds', 'float32', ['batch_size', cfg.projectionDim]);
  g.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', H]);
  return g.toBytes();
}

/**
 * The structure of `onnx/vision_model.onnx` (CLIPVisionModelWithProjection): `pixel_values` ->
 * patch embedding (Conv, stride = patch, no bias) -> [class token; patches] + positions ->
 * pre-LayerNorm -> encoder -> `last_hidden_state`; class token -> post-LayerNorm -> projection ->
 * `image_embeds` [batch_size, P].
 */
export function buildClipVisionModel(cfg: StandinClipConfig, rng: Rng): Uint8Array {
  const H = cfg.visionHidden;
  const p = cfg.patchSize;
  const grid = cfg.imageSize / p;
  const tokens = grid * grid + 1;
  const g = new GraphBuilder('main_graph', { opset: 17 });
  g.input('pixel_values', 'float32', ['batch_size', 'num_channels', 'height', 'width']);
  const patchW = g.initializer(
    'vision_model.embeddings.patch_embedding.weight',
    [H, 3, p, p],
    rng.fork('patch').normals(H * 3 * p * p, Math.sqrt(1 / (3 * p * p))),
  );
  const patches = g.op(
    'Transpose',
    [
      g.op('Reshape', [
        g.op('Conv', ['pixel_values', patchW], { kernel_shape: [p, p], strides: [p, p] }),
        g.constant([3], i64([0, H, -1])),
      ]),
    ],
    { perm: [0, 2, 1] },
  );
  const batch = g.op('Slice', [
    g.op('Shape', ['pixel_values']),
    g.constant([1], i64([0])),
    g.constant([1], i64([1])),
  ]);
  const classEmb = g.initializer(
    'vision_model.embeddings.class_embedding',
    [1, 1, H],
    rng.fork('cls').normals(H, 0.5),
  );
  const cls = g.op('Expand', [classEmb, g.op('Concat', [batch, g.constant([2], i64([1, H]))], { axis: 0 })]);
  const pos = g.initializer(
    'vision_model.embeddings.position_embedding.weight',
    [1, tokens, H],
    rng.fork('pos').normals(tokens * H, 0.1),
  );
  let x = g.op('Add', [g.op('Concat', [cls, patches], { axis: 1 }), pos]);
  x = layerNorm(g, x, H, 1e-5, 'vision_model.pre_layrnorm');
  x = tokenMlp(g, rng.fork('layer0'), x, H, 'vision_model.encoder.layers.0');
  g.node('Identity', [x], ['last_hidden_state']);
  const first = g.op('Gather', [x, g.constant([], i64([0]))], { axis: 1 });
  const pooled = layerNorm(g, first, H, 1e-5, 'vision_model.post_layernorm');
  const projection = g.initializer(
    'visual_projection.weight',
    [H, cfg.projectionDim],
    rng.fork('proj').normals(H * cfg.projectionDim, 1 / Math.sqrt(H)),
  );
  g.node('MatMul', [pooled, projection], ['image_embeds']);
  g.output('image_embeds', 'float32', ['batch_size', cfg.projectionDim]);
  g.output('last_hidden_state', 'float32', ['batch_size', tokens, H]);
  return g.toBytes();
}
