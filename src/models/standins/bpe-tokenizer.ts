/**
 * A byte-level BPE tokenizer in CLIP's `tokenizer.json` layout (what transformers'
 * CLIPConverter writes: NFC + whitespace-collapse + lowercase normaliser; a Split on CLIP's word
 * regex, then ByteLevel; BPE with the `</w>` end-of-word suffix; RobertaProcessing adding
 * <|startoftext|> / <|endoftext|>), with a small vocabulary learned from a word list.
 */

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
const END_OF_WORD = '</w>';

/** `"a b"` strings (tokenizers < 0.20, what @xenova/transformers 2.17 reads) or `["a","b"]` pairs. */
export type MergeFormat = 'strings' | 'pairs';

/**
 * GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the rest
 * to code points from 256 up, so every byte string becomes a visible string without spaces.
 */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array<string>(256);
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(keep(b) ? b : 256 + extra++);
  return table;
}

export interface BpeVocab {
  /** token -> id; ids are the array order. */
  vocab: Map<string, number>;
  /** Merge rules, highest priority first. */
  merges: [string, string][];
}

/**
 * Vocabulary in CLIP's order: the 256 byte characters, the same with `</w>`, one merged token
 * per merge rule, then <|startoftext|> and <|endoftext|> (the highest id, which CLIP's pooling
 * finds with argmax). Each word is encoded with the rules so far and gets new, lower-priority
 * rules until it is one token; rules added later never outrank an earlier word's, so every word
 * of the list stays one token.
 */
export function learnBpeVocab(words: readonly string[]): BpeVocab {
  const bytes = bytesToUnicode();
  const tokens: string[] = [...bytes, ...bytes.map((c) => c + END_OF_WORD)];
  const seen = new Set(tokens);
  const merges: [string, string][] = [];
  const ranks = new Map<string, number>();
  for (const word of words) {
    const chars = [...new TextEncoder().encode(word.toLowerCase())].map((b) => bytes[b]!);
    if (chars.length === 0) continue;
    chars[chars.length - 1] += END_OF_WORD;
    let symbols = applyMerges(chars, ranks);
    while (symbols.length > 1) {
      const [left, right] = symbols as [string, string];
      const merged = left + right;
      ranks.set(`${left} ${right}`, merges.length);
      merges.push([left, right]);
      if (!seen.has(merged)) {
        seen.add(merged);
        tokens.push(merged);
      }
      symbols = applyMerges(chars, ranks);
    }
  }
  tokens.push(CLIP_BOS, CLIP_EOS);
  return { vocab: new Map(tokens.map((t, i) => [t, i])), merges };
}

/** BPE: repeatedly merge the adjacent pair with the best (lowest) rank. */
function applyMerges(chars: readonly string[], ranks: ReadonlyMap<string, number>): string[] {
  const symbols = [...chars];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`) ?? Infinity;
      if (rank < bestRank) [best, bestRank] = [i, rank];
    }
    if (best < 0) return symbols;
    symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
  }
}

/** `tokenizer.json` for a byte-level BPE vocabulary, merges written in `format`. */
export function bpeTokenizerJson(bpe: BpeVocab, format: MergeFormat): Record<string, unknown> {
  const id = (token: string) => bpe.vocab.get(token)!;
  const added = (content: string) => ({
    id: id(content),
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(CLIP_BOS), added(CLIP_EOS)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [CLIP_EOS, id(CLIP_EOS)],
      cls: [CLIP_BOS, id(CLIP_BOS)],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS,
      continuing_subword_prefix: '',
      end_of_word_suffix: END_OF_WORD,
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(bpe.vocab),
      merges: format === 'pairs' ? bpe.merges : bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** CLIPTokenizer's `tokenizer_config.json` fields (openai/clip-vit-base-patch32). */
export function clipTokenizerConfigJson(): Record<string, unknown> {
  return {
    add_prefix_space: false,
    bos_token: CLIP_BOS,
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: CLIP_EOS,
    errors: 'replace',
    model_max_length: 77,
    pad_token: CLIP_EOS,
    tokenizer_class: 'CLIPTokenizer',
    unk_token: CLIP_EOS,
  };
}
