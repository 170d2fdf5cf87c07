import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { decodeModel } from '../../src/onnx/onnx-proto.ts';
import {
  buildTinyModelFiles,
  ensureTinyModels,
  TINY_FILES,
  TINY_GENERATOR_VERSION,
} from '../../src/models/tiny/generate.ts';
import { loadTokenizer } from '../../src/models/text-encoder.ts';

const CAPTION_WORDS =
  `red crimson scarlet orange yellow gold green blue navy purple violet pink magenta brown black
white grey gray circle disc square triangle star hexagon diamond cross ring small large tiny big left right top
bottom centre center corner upper lower middle background on of the a an one two three and with`.split(/\s+/);

describe('tiny model generation', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tiny-models-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is byte-identical for the same seed and differs for another seed', () => {
    const a = buildTinyModelFiles(7);
    const b = buildTinyModelFiles(7);
    const c = buildTinyModelFiles(8);
    expect([...a.keys()].sort()).toEqual([...TINY_FILES].sort());
    for (const [file, bytes] of a)
      expect(Buffer.from(bytes).equals(Buffer.from(b.get(file)!)), file).toBe(true);
    for (const file of ['text/onnx/model.onnx', 'image/onnx/model.onnx']) {
      expect(Buffer.from(a.get(file)!).equals(Buffer.from(c.get(file)!)), file).toBe(false);
    }
  });

  it('writes the Hugging Face layout once and reuses it', async () => {
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, SEED: 3 } });
    const first = await ensureTinyModels(config);
    expect(first.generated).toBe(true);
    expect(first.dir).toBe(path.join(dataDir, 'models', 'tiny'));
    expect(Object.keys(first.sizes).sort()).toEqual([...TINY_FILES].sort());
    const second = await ensureTinyModels(config);
    expect(second.generated).toBe(false);

    const textConfig = JSON.parse(await readFile(path.join(first.dir, 'text/config.json'), 'utf8'));
    expect(textConfig).toMatchObject({
      model_type: 'bert',
      hidden_size: 256,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: 64,
      tiny_seed: 3,
    });
    const pre = JSON.parse(await readFile(path.join(first.dir, 'image/preprocessor_config.json'), 'utf8'));
    expect(pre).toMatchObject({
      size: { shortest_edge: 64 },
      crop_size: { height: 64, width: 64 },
      image_mean: [0.485, 0.456, 0.406],
    });

    const model = decodeModel(await readFile(path.join(first.dir, 'text/onnx/model.onnx'))) as {
      graph: { input: { name: string }[]; output: { name: string }[]; node: { opType: string }[] };
    };
    expect(model.graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(model.graph.output.map((o) => o.name)).toEqual(['last_hidden_state']);
    const ops = new Set(model.graph.node.map((n) => n.opType));
    for (const op of ['Gather', 'LayerNormalization', 'MatMul', 'Softmax', 'Erf'])
      expect(ops.has(op), op).toBe(true);
    const image = decodeModel(await readFile(path.join(first.dir, 'image/onnx/model.onnx'))) as typeof model;
    const imageOps = new Set(image.graph.node.map((n) => n.opType));
    for (const op of [
      'Conv',
      'BatchNormalization',
      'Relu',
      'Add',
      'GlobalAveragePool',
      'AveragePool',
      'Concat',
    ])
      expect(imageOps.has(op), op).toBe(true);
  });

  it('regenerates a directory from an older generator and keeps one made with another seed', async () => {
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, SEED: 3 } });
    const { dir } = await ensureTinyModels(config);
    const file = path.join(dir, 'image/config.json');
    const { tiny_generator: _version, ...older } = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify(older));
    expect((await ensureTinyModels(config)).generated).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8')).tiny_generator).toBe(TINY_GENERATOR_VERSION);
    const otherSeed = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, SEED: 4 } });
    expect((await ensureTinyModels(otherSeed)).generated).toBe(false);
  });

  it('has a WordPiece vocabulary with every caption word as one token and ## pieces for the rest', async () => {
    const config = loadConfig({ env: {}, overrides: { DATA_DIR: dataDir, SEED: 3 } });
    const { dir } = await ensureTinyModels(config);
    const tokenizer = await loadTokenizer(path.join(dir, 'text'));
    const ids = (text: string) =>
      tokenizer([text], { add_special_tokens: true, padding: false, truncation: false, return_tensor: false })
        .input_ids[0]!;
    for (const word of CAPTION_WORDS) expect(ids(word), word).toHaveLength(3); // [CLS] word [SEP]
    const vocab = JSON.parse(await readFile(path.join(dir, 'text/tokenizer.json'), 'utf8')).model
      .vocab as Record<string, number>;
    expect(Object.keys(vocab).length).toBeGreaterThan(3000);
    expect(vocab['[PAD]']).toBe(0);
    const unk = vocab['[UNK]'];
    // An unseen word splits into pieces, never [UNK].
    const pieces = ids('Zyxwvutsrq crimsonish!');
    expect(pieces.length).toBeGreaterThan(5);
    expect(pieces).not.toContain(unk);
  });
});
