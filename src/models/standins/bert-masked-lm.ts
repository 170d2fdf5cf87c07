import { GraphBuilder } from '../../onnx/graph-builder.ts';
import type { Rng } from '../tiny/rng.ts';
import { addBertEncoder, dense, gelu, layerNorm, type TinyBertConfig } from '../tiny/tiny-bert.ts';

export interface StandinExportOptions {
  /**
   * Also output the inner feature tensor directly, under its feature-extraction name: the twin
   * that tests compare the loader's exposed features against. Same weights either way.
   * @default false
   */
  twin?: boolean;
}

/**
 * The structure of Xenova/bert-base-uncased's `main` export (BertForMaskedLM, optimum's
 * `fill-mask` task) at reduced width: inputs `input_ids`, `attention_mask`, `token_type_ids`
 * [batch_size, sequence_length]; one output, `logits` [batch_size, sequence_length, vocab].
 * The head is BERT's: dense (H x H) -> GELU -> LayerNorm -> decoder tied to the word embeddings
 * (a Transpose of that initializer, as a tied Linear exports) + bias.
 */
export function buildBertMaskedLm(
  cfg: TinyBertConfig,
  rng: Rng,
  options: StandinExportOptions = {},
): Uint8Array {
  const H = cfg.hiddenSize;
  const g = new GraphBuilder('main_graph', { opset: 17 });
  const hidden = addBertEncoder(g, cfg, rng.fork('bert'));
  const head = rng.fork('cls.predictions');
  const transformed = layerNorm(
    g,
    gelu(g, dense(g, head, hidden, H, H, 'cls.predictions.transform.dense')),
    H,
    cfg.layerNormEps,
    'cls.predictions.transform.LayerNorm',
  );
  const decoderWeight = g.op('Transpose', ['embeddings.word_embeddings.weight'], { perm: [1, 0] });
  const bias = g.initializer('cls.predictions.bias', [cfg.vocabSize], head.normals(cfg.vocabSize, 0.02));
  g.node('Add', [g.op('MatMul', [transformed, decoderWeight]), bias], ['logits']);
  g.output('logits', 'float32', ['batch_size', 'sequence_length', cfg.vocabSize]);
  if (options.twin) {
    g.node('Identity', [hidden], ['last_hidden_state']);
    g.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', H]);
  }
  return g.toBytes();
}
