import { RESNET_50 } from './base-resnet.ts';
import { baseResNetMacs, bertMacs, tinyResNetMacs } from './flops.ts';
import { BERT_BASE, type TinySize } from './generate.ts';
import { TINY_BERT_DEFAULTS } from './tiny-bert.ts';
import { TINY_RESNET_DEFAULTS } from './tiny-resnet.ts';

export interface ComputeRow {
  model: string;
  /** Billions of multiply-accumulates per item. */
  gmacs: number;
  /** The published figure it compares with. */
  real: string;
}

/**
 * What one item costs in the generated encoders, beside the real models' published figures:
 * torchvision lists ResNet-50 at 4.09 GFLOPs (its "FLOPs" are multiply-accumulates); BERT-base is
 * ~22 GFLOPs (2 x MACs) per 128-token sequence. Queries are short: 16 tokens is a typical caption.
 */
export function computeTable(size: TinySize): ComputeRow[] {
  const bert = size === 'base' ? BERT_BASE : { ...TINY_BERT_DEFAULTS };
  const image =
    size === 'base'
      ? { model: 'image: ResNet-50 stand-in, 224x224', gmacs: baseResNetMacs(RESNET_50) / 1e9 }
      : { model: 'image: tiny ResNet, 64x64', gmacs: tinyResNetMacs(TINY_RESNET_DEFAULTS) / 1e9 };
  const name = size === 'base' ? 'BERT-base stand-in' : 'tiny BERT';
  return [
    { ...image, real: 'real ResNet-50: 4.09 GMACs (torchvision)' },
    {
      model: `text: ${name}, 128 tokens`,
      gmacs: bertMacs(bert, 128) / 1e9,
      real: 'real BERT-base: ~11.2 GMACs (~22 GFLOPs)',
    },
    {
      model: `text: ${name}, 16 tokens`,
      gmacs: bertMacs(bert, 16) / 1e9,
      real: 'real BERT-base: ~1.4 GMACs',
    },
  ];
}
