import { TINY_WORDS } from './words.ts';

/**
 * The tiny text encoder's tokenizer, written in the Hugging Face `tokenizers` JSON format that
 * bert-base-uncased uses (BertNormalizer, BertPreTokenizer, WordPiece, [CLS] A [SEP]), so the
 * same loading path (@huggingface/transformers AutoTokenizer) serves tiny and real models.
 */

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

const PUNCTUATION = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
const DIGITS = [...'0123456789'];
const LETTERS = [...'abcdefghijklmnopqrstuvwxyz'];
/** Common English suffixes, so unseen inflections split into a known stem and a piece. */
const SUFFIXES = [
  's',
  'es',
  'ed',
  'd',
  'ing',
  'er',
  'ers',
  'est',
  'ly',
  'ness',
  'ful',
  'less',
  'ish',
  'y',
  'ies',
  'ment',
  'tion',
  'able',
  'al',
  'ic',
  'ity',
  'ive',
  'ous',
  'en',
];

/** Special tokens, punctuation, digits, letters, `##` pieces, then whole words; index = id. */
export function buildVocab(): string[] {
  const vocab: string[] = [];
  const seen = new Set<string>();
  const add = (token: string): void => {
    if (!seen.has(token)) {
      seen.add(token);
      vocab.push(token);
    }
  };
  for (const t of SPECIAL_TOKENS) add(t);
  for (const t of [...PUNCTUATION, ...DIGITS, ...LETTERS]) add(t);
  // Every letter and digit as a continuation piece: any word splits into known pieces, never [UNK].
  for (const t of [...LETTERS, ...DIGITS, ...SUFFIXES]) add(`##${t}`);
  for (const w of TINY_WORDS) add(w);
  return vocab;
}

export function tokenizerJson(vocab: readonly string[]): Record<string, unknown> {
  const id = (token: string): number => vocab.indexOf(token);
  const special = (token: string, typeId: number) => ({ SpecialToken: { id: token, type_id: typeId } });
  const sequence = (name: string, typeId: number) => ({ Sequence: { id: name, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0)],
      pair: [
        special('[CLS]', 0),
        sequence('A', 0),
        special('[SEP]', 0),
        sequence('B', 1),
        special('[SEP]', 1),
      ],
      special_tokens: Object.fromEntries(
        ['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }]),
      ),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, i) => [token, i])),
    },
  };
}

export function tokenizerConfigJson(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: true,
    tokenize_chinese_chars: true,
    strip_accents: null,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  };
}
