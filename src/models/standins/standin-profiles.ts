import { Rng } from '../tiny/rng.ts';
import { TINY_BERT_DEFAULTS, type TinyBertConfig } from '../tiny/tiny-bert.ts';
import { buildVocab, tokenizerConfigJson, tokenizerJson } from '../tiny/tokenizer-files.ts';
import { TINY_WORDS } from '../tiny/words.ts';
import { buildBertMaskedLm } from './bert-masked-lm.ts';
import {
  bpeTokenizerJson,
  clipTokenizerConfigJson,
  learnBpeVocab,
  type MergeFormat,
} from './bpe-tokenizer.ts';
import { buildClipTextModel, buildClipVisionModel, type StandinClipConfig } from './clip-towers.ts';
import { buildResNetClassifier, STANDIN_RESNET } from './resnet-classifier.ts';
import { buildVggClassifier } from './vgg-classifier.ts';

/**
 * Reduced-width stand-ins for the real hub exports, laid out as `DATA_DIR/models/<profile>`
 * expects (`text/...`, `image/...`). Graph structure, input/output names and the config files'
 * fields follow the real exports, so tests load them through the real profile code.
 */

export interface StandinOptions {
  /** @default 7 */
  seed?: number;
  /** Twin graphs that also output the inner feature tensor directly. @default false */
  twin?: boolean;
  /** How the CLIP tokenizer.json stores merges. @default 'pairs' */
  mergeFormat?: MergeFormat;
  /** CLIP text graph with a fixed [batch, 77] input. @default false */
  staticLength?: boolean;
}

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** bert-resnet: a BertForMaskedLM export and a ResNetForImageClassification export. */
export function bertResnetStandin(options: StandinOptions = {}): Map<string, Uint8Array> {
  const rng = new Rng(options.seed ?? 7);
  const vocab = buildVocab();
  const bert: TinyBertConfig = {
    ...TINY_BERT_DEFAULTS,
    hiddenSize: 32,
    numHeads: 2,
    intermediateSize: 64,
    maxPositions: 512,
    vocabSize: vocab.length,
  };
  const r = STANDIN_RESNET;
  const files = new Map<string, Uint8Array>();
  // bert-base-uncased's config.json fields, at the stand-in's width.
  files.set(
    'text/config.json',
    json({
      architectures: ['BertForMaskedLM'],
      attention_probs_dropout_prob: 0.1,
      gradient_checkpointing: false,
      hidden_act: 'gelu',
      hidden_dropout_prob: 0.1,
      hidden_size: bert.hiddenSize,
      initializer_range: 0.02,
      intermediate_size: bert.intermediateSize,
      layer_norm_eps: bert.layerNormEps,
      max_position_embeddings: bert.maxPositions,
      model_type: 'bert',
      num_attention_heads: bert.numHeads,
      num_hidden_layers: bert.numLayers,
      pad_token_id: 0,
      position_embedding_type: 'absolute',
      type_vocab_size: bert.typeVocabSize,
      use_cache: true,
      vocab_size: bert.vocabSize,
    }),
  );
  files.set('text/tokenizer.json', json(tokenizerJson(vocab)));
  files.set('text/tokenizer_config.json', json(tokenizerConfigJson(512)));
  files.set('text/onnx/model.onnx', buildBertMaskedLm(bert, rng.fork('text'), options));
  // microsoft/resnet-50's config.json and preprocessor_config.json fields (224 px there).
  files.set(
    'image/config.json',
    json({
      architectures: ['ResNetForImageClassification'],
      depths: [1],
      downsample_in_first_stage: false,
      embedding_size: r.embeddingSize,
      hidden_act: 'relu',
      hidden_sizes: [r.hiddenSize],
      id2label: Object.fromEntries(Array.from({ length: r.numLabels }, (_, i) => [String(i), `class ${i}`])),
      layer_type: 'bottleneck',
      model_type: 'resnet',
      num_channels: 3,
    }),
  );
  files.set(
    'image/preprocessor_config.json',
    json({
      crop_pct: 0.875,
      do_normalize: true,
      do_resize: true,
      feature_extractor_type: 'ConvNextFeatureExtractor',
      image_mean: [0.485, 0.456, 0.406],
      image_std: [0.229, 0.224, 0.225],
      resample: 3,
      size: r.imageSize,
    }),
  );
  files.set('image/onnx/model.onnx', buildResNetClassifier(r, rng.fork('image'), options));
  return files;
}

/**
 * bert-vgg: the same BERT masked-LM export, and a bare VGG-16 export (`vgg16_Opset18.onnx`
 * only: the loader supplies config.json and preprocessor_config.json, as for the real one).
 */
export function bertVggStandin(options: StandinOptions = {}): Map<string, Uint8Array> {
  const files = new Map([...bertResnetStandin(options)].filter(([rel]) => rel.startsWith('text/')));
  const rng = new Rng(options.seed ?? 7);
  files.set('image/vgg16_Opset18.onnx', buildVggClassifier(rng.fork('vgg'), options));
  return files;
}

export const STANDIN_CLIP_WORDS = TINY_WORDS;

/** clip: split text_model.onnx / vision_model.onnx, a byte-level BPE tokenizer, CLIP configs. */
export function clipStandin(options: StandinOptions = {}): Map<string, Uint8Array> {
  const rng = new Rng(options.seed ?? 7);
  const bpe = learnBpeVocab(STANDIN_CLIP_WORDS);
  const cfg: StandinClipConfig = {
    vocabSize: bpe.vocab.size,
    maxPositions: 77,
    textHidden: 16,
    visionHidden: 16,
    imageSize: 32,
    patchSize: 8,
    projectionDim: 12,
    staticLength: options.staticLength ?? false,
  };
  // openai/clip-vit-base-patch32's config.json layout, at the stand-in's width.
  const config = json({
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: cfg.projectionDim,
    logit_scale_init_value: 2.6592,
    text_config: {
      model_type: 'clip_text_model',
      hidden_size: cfg.textHidden,
      intermediate_size: 2 * cfg.textHidden,
      max_position_embeddings: cfg.maxPositions,
      num_attention_heads: 1,
      num_hidden_layers: 1,
      projection_dim: cfg.projectionDim,
      vocab_size: cfg.vocabSize,
    },
    vision_config: {
      model_type: 'clip_vision_model',
      hidden_size: cfg.visionHidden,
      image_size: cfg.imageSize,
      patch_size: cfg.patchSize,
      num_attention_heads: 1,
      num_hidden_layers: 1,
      projection_dim: cfg.projectionDim,
    },
  });
  const files = new Map<string, Uint8Array>();
  files.set('text/config.json', config);
  files.set('text/tokenizer.json', json(bpeTokenizerJson(bpe, options.mergeFormat ?? 'pairs')));
  files.set('text/tokenizer_config.json', json(clipTokenizerConfigJson()));
  files.set('text/onnx/text_model.onnx', buildClipTextModel(cfg, rng.fork('text')));
  files.set('image/config.json', config);
  files.set(
    'image/preprocessor_config.json',
    json({
      crop_size: cfg.imageSize,
      do_center_crop: true,
      do_normalize: true,
      do_resize: true,
      feature_extractor_type: 'CLIPFeatureExtractor',
      image_mean: CLIP_MEAN,
      image_std: CLIP_STD,
      resample: 3,
      size: cfg.imageSize,
    }),
  );
  files.set('image/onnx/vision_model.onnx', buildClipVisionModel(cfg, rng.fork('image')));
  return files;
}
