import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { INITIAL_LOGIT_SCALE } from '../../src/models/projection.ts';
import { trainClassifier } from '../../src/train/train-classifier.ts';
import { codes, startTestApp, type TestApp } from './fixture.ts';

let t: TestApp;
let image: { id: string; base64: string };

const CLASSIFY = `query ($image: ImageInput!, $text: String, $task: String, $labels: [String!]) {
  classify(image: $image, text: $text, task: $task, labels: $labels) { task method model labels { label probability } }
}`;
const MATCH = `query ($image: ImageInput!, $texts: [String!]!) { matchScore(image: $image, texts: $texts) { text probability } }`;

interface Classification {
  task: string | null;
  method: string;
  model: string;
  labels: { label: string; probability: number }[];
}

beforeAll(async () => {
  t = await startTestApp({ n: 60 });
  const [id] = await t.app.repositories.images.filterIds({}, 1);
  const stored = await t.app.repositories.images.getByIds([id!]);
  const file = path.join(t.samplesDir, t.manifest.find((m) => stored[0]!.uri.endsWith(m.image))!.image);
  image = { id: String(id), base64: (await readFile(file)).toString('base64') };
});
afterAll(async () => {
  await t?.close();
});

const classify = (variables: Record<string, unknown>) =>
  t.gql<{ classify: Classification }>(CLASSIFY, { image: { base64: image.base64 }, ...variables });

describe('classify before any classifier is trained', () => {
  it('lists no classifiers in indexInfo', async () => {
    const r = await t.gql<{ indexInfo: { classifiers: unknown[] } }>(
      '{ indexInfo { classifiers { task } } }',
    );
    expect(r.data?.indexInfo.classifiers).toEqual([]);
  });

  it('refuses a known task with MODEL_MISSING naming the command that trains it', async () => {
    for (const r of [
      await classify({ task: 'match', text: 'a red circle' }),
      await t.gql(MATCH, { image: { base64: image.base64 }, texts: ['a red circle'] }),
    ]) {
      expect(codes(r)).toEqual(['MODEL_MISSING']);
      expect(r.errors![0]!.message).toContain('npm run train-classifier -- --task match');
    }
  });

  it('refuses an unknown task by name, listing the known ones', async () => {
    const r = await classify({ task: 'sentiment', text: 'a red circle' });
    expect(codes(r)).toEqual(['INVALID_INPUT']);
    expect(r.errors![0]!.message).toBe('unknown task "sentiment"; known tasks: match, attribute');
  });
});

describe('zero-shot labels', () => {
  const labels = ['a red circle', 'a blue square', 'a green star'];

  it('ranks every label with probabilities from the projection temperature, summing to 1', async () => {
    const r = await classify({ labels });
    expect(r.errors).toBeUndefined();
    const c = r.data!.classify;
    const info = await t.gql<{ indexInfo: { projection: string } }>('{ indexInfo { projection } }');
    expect(c).toMatchObject({ task: null, method: 'ZERO_SHOT', model: info.data!.indexInfo.projection });
    expect(c.labels.map((l) => l.label).sort()).toEqual([...labels].sort());
    const p = c.labels.map((l) => l.probability);
    expect(p).toEqual([...p].sort((a, b) => b - a));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // The same numbers by hand: softmax of the untrained projection's scale times the cosine.
    const [imageVector] = await t.app.embedder.embedPixels([
      await (
        await import('../../src/media/image-decode.ts')
      ).decodeImage(Buffer.from(image.base64, 'base64'), t.app.embedder.preprocess, {
        maxBytes: 1 << 24,
        maxPixels: 1 << 24,
      }),
    ]);
    const { vectors } = await t.app.embedder.embedTexts(labels);
    const logits = vectors.map(
      (v) => Math.exp(INITIAL_LOGIT_SCALE) * v.reduce((s, x, k) => s + x * imageVector![k]!, 0),
    );
    const z = logits.reduce((s, l) => s + Math.exp(l), 0);
    for (const l of c.labels)
      expect(l.probability).toBeCloseTo(Math.exp(logits[labels.indexOf(l.label)]!) / z, 5);
  });

  it('gives an indexed image by id the same ranking as its bytes', async () => {
    const byId = await t.gql<{ classify: Classification }>(CLASSIFY, { image: { id: image.id }, labels });
    const byBytes = await classify({ labels });
    expect(byId.data!.classify.labels.map((l) => l.label)).toEqual(
      byBytes.data!.classify.labels.map((l) => l.label),
    );
  });

  it('refuses bad combinations and inputs with clear codes', async () => {
    const long = 'x'.repeat(t.app.config.limits.maxQueryText + 1);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ labels, task: 'match', text: 'a' }, 'INVALID_INPUT', 'exactly one of `task`'],
      [{}, 'INVALID_INPUT', 'exactly one of `task`'],
      [{ labels, text: 'a red circle' }, 'INVALID_INPUT', 'zero-shot `labels` are ranked by the image alone'],
      [{ labels: [] }, 'INVALID_INPUT', 'labels must hold at least one text'],
      [{ labels: Array.from({ length: 33 }, (_, i) => `label ${i}`) }, 'LIMIT_EXCEEDED', 'the limit is 32'],
      [{ labels: ['ok', long] }, 'LIMIT_EXCEEDED', 'labels[1] is'],
      [{ labels: ['ok', '   '] }, 'INVALID_INPUT', 'labels[1] must not be empty'],
      [{ task: 'match' }, 'INVALID_INPUT', 'give `text`'],
      [{ task: 'match', text: long }, 'LIMIT_EXCEEDED', 'characters'],
      [{ labels, image: { base64: 'not base64!' } }, 'INVALID_INPUT', 'not valid base64'],
      [{ labels, image: { id: image.id, base64: image.base64 } }, 'INVALID_INPUT', 'exactly one of id'],
      [{ labels, image: { id: '999999' } }, 'NOT_FOUND', 'No indexed image'],
    ];
    for (const [variables, code, message] of cases) {
      const r = await classify(variables);
      expect(codes(r), JSON.stringify(variables).slice(0, 80)).toEqual([code]);
      expect(r.errors![0]!.message).toContain(message);
    }
  });
});

describe('trained classifiers', () => {
  let fingerprint: string;
  beforeAll(async () => {
    const { card } = await trainClassifier(
      t.app.config,
      {
        task: 'match',
        dataPath: path.join(t.samplesDir, 'manifest.jsonl'),
        encoders: t.app.encoders,
        epochs: 2,
        seed: 3,
      },
      silentLogger,
    );
    fingerprint = card.fingerprint;
  }, 300_000);

  it('classify with a task returns both labels from the trained classifier, most probable first', async () => {
    const r = await classify({ task: 'match', text: 'a small red circle on the left' });
    expect(r.errors).toBeUndefined();
    const c = r.data!.classify;
    expect(c).toMatchObject({ task: 'match', method: 'TRAINED', model: fingerprint });
    expect(c.labels.map((l) => l.label).sort()).toEqual(['match', 'mismatch']);
    expect(c.labels[0]!.probability).toBeGreaterThanOrEqual(c.labels[1]!.probability);
    expect(c.labels[0]!.probability + c.labels[1]!.probability).toBeCloseTo(1, 6);
  });

  it('matchScore gives each text, in order, the probability classify gives it', async () => {
    const texts = ['a small red circle on the left', 'a large blue square at the top', 'one tiny green star'];
    const r = await t.gql<{ matchScore: { text: string; probability: number }[] }>(MATCH, {
      image: { base64: image.base64 },
      texts,
    });
    expect(r.errors).toBeUndefined();
    expect(r.data!.matchScore.map((m) => m.text)).toEqual(texts);
    for (const m of r.data!.matchScore) {
      const one = await classify({ task: 'match', text: m.text });
      const p = one.data!.classify.labels.find((l) => l.label === 'match')!.probability;
      expect(m.probability).toBeCloseTo(p, 5);
    }
    const byId = await t.gql<{ matchScore: { probability: number }[] }>(MATCH, {
      image: { id: image.id },
      texts,
    });
    byId.data!.matchScore.forEach((m, i) =>
      expect(m.probability).toBeCloseTo(r.data!.matchScore[i]!.probability, 5),
    );
  });

  it('matchScore refuses an empty list and more than 32 texts', async () => {
    const empty = await t.gql(MATCH, { image: { base64: image.base64 }, texts: [] });
    expect(codes(empty)).toEqual(['INVALID_INPUT']);
    const many = await t.gql(MATCH, {
      image: { base64: image.base64 },
      texts: Array.from({ length: 33 }, () => 'a'),
    });
    expect(codes(many)).toEqual(['LIMIT_EXCEEDED']);
  });

  it('indexInfo lists the trained classifier; the untrained task still asks for training', async () => {
    const r = await t.gql<{ indexInfo: { classifiers: Record<string, unknown>[] } }>(
      '{ indexInfo { classifiers { task fingerprint labels fusion testAccuracy trainedAt } } }',
    );
    expect(r.data!.indexInfo.classifiers).toEqual([
      expect.objectContaining({ task: 'match', fingerprint, labels: ['mismatch', 'match'], fusion: 'sum' }),
    ]);
    const attribute = await classify({ task: 'attribute', text: 'what colour is the shape' });
    expect(codes(attribute)).toEqual(['MODEL_MISSING']);
    expect(attribute.errors![0]!.message).toContain('npm run train-classifier -- --task attribute');
  });

  it('serves a retrained classifier on the next request', async () => {
    const { card } = await trainClassifier(
      t.app.config,
      {
        task: 'match',
        dataPath: path.join(t.samplesDir, 'manifest.jsonl'),
        encoders: t.app.encoders,
        epochs: 1,
        seed: 4,
      },
      silentLogger,
    );
    expect(card.fingerprint).not.toBe(fingerprint);
    const r = await classify({ task: 'match', text: 'a red circle' });
    expect(r.data!.classify.model).toBe(card.fingerprint);
  }, 300_000);
});
