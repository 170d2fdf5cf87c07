import path from 'node:path';
import type { Config, Profile } from '../config.ts';

/** One encoder of a profile: where it comes from on the hub and which files it needs. */
export interface ModelPart {
  /** Hugging Face repository the files are fetched from. */
  repo: string;
  /**
   * Branch, tag or 40-hex commit the files are fetched at. A commit makes the download exact and
   * lets `fetch` answer from the hub cache with no request at all.
   */
  revision: string;
  /** Files needed, relative to the part directory (the same path in the repository). */
  files: readonly string[];
  /** The ONNX graph among `files`. */
  onnx: string;
}

export interface ProfileSpec {
  name: Profile;
  /** What it is, for messages and `npm run models`. */
  description: string;
  text: ModelPart;
  image: ModelPart;
}

const textFiles = (onnx: string) => ['config.json', 'tokenizer.json', 'tokenizer_config.json', onnx];
const imageFiles = (onnx: string) => ['config.json', 'preprocessor_config.json', onnx];

/**
 * The model profiles. Each lives in `DATA_DIR/models/<profile>/{text,image}` in the Hugging Face
 * layout, so a directory downloaded by hand works the same as a fetched one.
 */
export const PROFILES: Readonly<Record<Profile, ProfileSpec>> = {
  tiny: {
    name: 'tiny',
    description: 'generated offline: small BERT (256-d) + small ResNet (1248-d), random init',
    text: {
      repo: '(generated)',
      revision: 'main',
      files: textFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
    },
    image: {
      repo: '(generated)',
      revision: 'main',
      files: imageFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
    },
  },
  'bert-resnet': {
    name: 'bert-resnet',
    description: 'bert-base-uncased (768-d) + resnet-50 (2048-d) ONNX exports',
    text: {
      repo: 'Xenova/bert-base-uncased',
      revision: 'main',
      files: textFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
    },
    image: {
      repo: 'Xenova/resnet-50',
      revision: 'main',
      files: imageFiles('onnx/model.onnx'),
      onnx: 'onnx/model.onnx',
    },
  },
  clip: {
    name: 'clip',
    description: 'CLIP ViT-B/32 text and vision towers (512-d, already aligned)',
    text: {
      repo: 'Xenova/clip-vit-base-patch32',
      revision: 'main',
      files: textFiles('onnx/text_model.onnx'),
      onnx: 'onnx/text_model.onnx',
    },
    image: {
      repo: 'Xenova/clip-vit-base-patch32',
      revision: 'main',
      files: imageFiles('onnx/vision_model.onnx'),
      onnx: 'onnx/vision_model.onnx',
    },
  },
};

export function profileDir(config: Pick<Config, 'paths'>, profile: Profile): string {
  return path.join(config.paths.models, profile);
}

export function partDir(config: Pick<Config, 'paths'>, profile: Profile, part: 'text' | 'image'): string {
  return path.join(profileDir(config, profile), part);
}
