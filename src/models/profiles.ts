import path from 'node:path';
import type { Config, Profile } from '../config.ts';

/** Graph outputs an encoder reads its vectors from (the Hugging Face export names). */
export type FeatureOutput = 'last_hidden_state' | 'pooler_output' | 'text_embeds' | 'image_embeds';

/**
 * Where a head-only export keeps the features, so the loader can add them to the graph outputs:
 * - `mlm-head-input`: the encoder's last hidden state, the input of a masked-LM head
 *   (dense -> GELU -> LayerNorm -> decoder -> `logits`);
 * - `classifier-input`: the input of the final classifier: the pooled features in
 *   ResNetForImageClassification (`GlobalAveragePool -> Flatten -> Gemm -> logits`), fc7 after
 *   its ReLU in torchvision's VGG (`Gemm -> Relu [-> Dropout] -> Gemm -> logits`).
 */
export type FeatureSource = 'mlm-head-input' | 'classifier-input';

/** What an encoder part yields. */
export interface FeatureSpec {
  /** The graph output the vectors come from. */
  output: FeatureOutput;
  /**
   * Its width in the real export, for messages and docs. The loader checks the width against the
   * directory's config.json instead, so reduced-width stand-ins load through the same code.
   */
  dims?: number;
  /** Set when the pinned export lacks `output` and the loader must expose it (see FeatureSource). */
  exposeFrom?: FeatureSource;
  /** In words, for messages and `npm run models`. */
  describe: string;
}

/** One encoder of a profile: where it comes from on the hub, which files it needs, what it yields. */
export interface ModelPart {
  /** Hugging Face repository the files are fetched from. */
  repo: string;
  /**
   * Pinned hub revision: a commit hash, so a re-upload on `main` cannot change the model, and
   * `fetch` can answer from the hub cache with no request at all.
   */
  revision: string;
  /** Files needed, relative to the part directory (the same path in the repository). */
  files: readonly string[];
  /** The ONNX graph among `files`. */
  onnx: string;
  features: FeatureSpec;
  /**
   * JSON files the project writes into the part directory because the hub repository has none
   * (config.json, preprocessor_config.json of a bare ONNX export); name -> content.
   */
  supplied?: Readonly<Record<string, Record<string, unknown>>>;
}

export interface ProfileSpec {
  name: Profile;
  /** What it is, for messages and `npm run models`. */
  description: string;
  /**
   * True when the text and image features already share one space (CLIP): the untrained
   * projection is then the identity, so search works zero-shot before any training.
   */
  aligned: boolean;
  /**
   * Hidden width of the fusion classifier (src/models/classifier.ts): both feature sets are
   * projected to it, fused, and passed through one more layer of it before the class logits.
   */
  classifierHidden: number;
  text: ModelPart;
  image: ModelPart;
}

const textFiles = (onnx: string) => ['config.json', 'tokenizer.json', 'tokenizer_config.json', onnx];
const imageFiles = (onnx: string) => ['config.json', 'preprocessor_config.json', onnx];

/**
 * Xenova/bert-base-uncased at this commit is the masked-LM export (outputs only `logits`
 * [B,T,30522]); transformers.js loads its feature-extraction export from the `default` branch
 * instead. Pinning the commit and exposing the encoder's last hidden state keeps a fixed hash;
 * a directory holding the `default` export (which outputs last_hidden_state) loads unchanged.
 */
const BERT_BASE_UNCASED_REVISION = 'ab680a327acc2d9c3bd279ffb1cd43454181f743';
/** Xenova/resnet-50: ResNetForImageClassification, outputs only `logits` [B,1000]. */
const RESNET_50_REVISION = 'a16f29143f08c4e5c5a4a89f6f185d8edac4b6af';
/**
 * onnxmodelzoo/vgg16_Opset18_torch_hub: torchvision's VGG-16 (ImageNet) exported at opset 18,
 * a bare `vgg16_Opset18.onnx` with only the 1000 class scores and no Hugging Face config files.
 */
const VGG16_REVISION = '70e86372b38929253df53525d6ba333dcae4d829';
/** Xenova/clip-vit-base-patch32: split text_model.onnx / vision_model.onnx with projections. */
const CLIP_B32_REVISION = 'd15189d7028b43f1d3e65039190477f6af591c2a';

/** bert-base-uncased, shared by the BERT profiles. */
function bertBaseUncased(): ModelPart {
  return {
    repo: 'Xenova/bert-base-uncased',
    revision: BERT_BASE_UNCASED_REVISION,
    files: textFiles('onnx/model.onnx'),
    onnx: 'onnx/model.onnx',
    features: {
      output: 'last_hidden_state',
      dims: 768,
      exposeFrom: 'mlm-head-input',
      describe: 'token states (768) mean-pooled over the attention mask, exposed from the masked-LM export',
    },
  };
}

/**
 * The model profiles. Each lives in `DATA_DIR/models/<profile>/{text,image}` in the Hugging Face
 * layout, so a directory downloaded by hand works the same as a fetched one.
 */
export const PROFILES: Readonly<Record<Profile, ProfileSpec>> = {
  tiny: {
    name: 'tiny',
    description: 'generated offline: small BERT (256-d) + small ResNet (1248-d), random init',
    aligned: false,
    classifierHidden: 128,
    text: {
      repo: '(generated)',
      revision: '(generated)',
      files: textFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
      features: { output: 'last_hidden_state', describe: 'token states, mean-pooled over the mask' },
    },
    image: {
      repo: '(generated)',
      revision: '(generated)',
      files: imageFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
      features: { output: 'pooler_output', describe: 'multi-stage pooled features' },
    },
  },
  'tiny-base': {
    name: 'tiny-base',
    description:
      'generated offline for benchmarks: BERT-base (768-d) + ResNet-50 (2048-d) sizes, random init (meaningless features)',
    aligned: false,
    classifierHidden: 512,
    text: {
      repo: '(generated)',
      revision: '(generated)',
      files: textFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
      features: {
        output: 'last_hidden_state',
        dims: 768,
        describe: 'token states, mean-pooled over the mask',
      },
    },
    image: {
      repo: '(generated)',
      revision: '(generated)',
      files: imageFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
      features: { output: 'pooler_output', dims: 2048, describe: 'last stage, global average pool' },
    },
  },
  'bert-resnet': {
    name: 'bert-resnet',
    description: 'bert-base-uncased (768-d) + resnet-50 (2048-d) ONNX exports',
    aligned: false,
    classifierHidden: 512,
    text: bertBaseUncased(),
    image: {
      repo: 'Xenova/resnet-50',
      revision: RESNET_50_REVISION,
      files: imageFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
      features: {
        output: 'pooler_output',
        dims: 2048,
        exposeFrom: 'classifier-input',
        describe: "2048-d pooled features (the classifier's input, not the 1000 logits)",
      },
    },
  },
  'bert-vgg': {
    name: 'bert-vgg',
    description: 'bert-base-uncased (768-d) + VGG-16 fc7 (4096-d) ONNX exports',
    aligned: false,
    classifierHidden: 512,
    text: bertBaseUncased(),
    image: {
      repo: 'onnxmodelzoo/vgg16_Opset18_torch_hub',
      revision: VGG16_REVISION,
      files: ['vgg16_Opset18.onnx'],
      onnx: 'vgg16_Opset18.onnx',
      features: {
        output: 'pooler_output',
        dims: 4096,
        exposeFrom: 'classifier-input',
        describe: "fc7 (4096-d, after its ReLU: the last classifier layer's input)",
      },
      supplied: {
        // No width here: fc7's is read from the graph, so reduced-width stand-ins load the same way.
        'config.json': { model_type: 'vgg', architectures: ['VGG16'], num_labels: 1000 },
        // torchvision's VGG16_Weights.IMAGENET1K_V1 transforms: resize 256, centre crop 224, ImageNet mean/std.
        'preprocessor_config.json': {
          do_resize: true,
          size: { shortest_edge: 256 },
          do_center_crop: true,
          crop_size: { height: 224, width: 224 },
          do_rescale: true,
          rescale_factor: 1 / 255,
          do_normalize: true,
          image_mean: [0.485, 0.456, 0.406],
          image_std: [0.229, 0.224, 0.225],
        },
      },
    },
  },
  clip: {
    name: 'clip',
    description: 'CLIP ViT-B/32 text and vision towers (512-d, already aligned)',
    aligned: true,
    classifierHidden: 512,
    text: {
      repo: 'Xenova/clip-vit-base-patch32',
      revision: CLIP_B32_REVISION,
      files: textFiles('onnx/text_model.onnx'),
      onnx: 'onnx/text_model.onnx',
      features: { output: 'text_embeds', dims: 512, describe: 'projected text embedding (512)' },
    },
    image: {
      repo: 'Xenova/clip-vit-base-patch32',
      revision: CLIP_B32_REVISION,
      files: imageFiles('onnx/vision_model.onnx'),
      onnx: 'onnx/vision_model.onnx',
      features: { output: 'image_embeds', dims: 512, describe: 'projected image embedding (512)' },
    },
  },
};

export function profileDir(config: Pick<Config, 'paths'>, profile: Profile): string {
  return path.join(config.paths.models, profile);
}

export function partDir(config: Pick<Config, 'paths'>, profile: Profile, part: 'text' | 'image'): string {
  return path.join(profileDir(config, profile), part);
}
