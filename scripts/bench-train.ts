import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import ort from 'onnxruntime-node';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { loadEncoders } from '../src/models/load.ts';
import { createInitialWeights } from '../src/models/projection.ts';
import { createSession } from '../src/onnx/session.ts';
import { fitProjection } from '../src/train/fit.ts';
import { buildMatmulGraph } from '../src/train/matmul-roofline.ts';
import { createRng } from '../src/train/rng.ts';
import type { StepGraphShape } from '../src/train/step-graph.ts';
import type { FeatureSubset } from '../src/train/subset.ts';
import { TrainStep } from '../src/train/train-step.ts';
import { runtimeOf } from '../src/train/train-projection.ts';
import { paramsFromWeights } from '../src/train/trainer-params.ts';
import { checkOutputPath, runCli, wholeNumber } from './lib/cli.ts';

/**
 * Trainer throughput (pairs/s: step graph + AdamW + batch assembly) next to the same step's
 * matrix products alone in onnxruntime, same shapes, same process, interleaved rounds.
 * metric = trainer pairs/s / matmul-only pairs/s.
 */
const program = new Command('bench:train')
  .description('Benchmark the projection trainer against the raw ORT MatMul throughput of the same shapes')
  .option('--batch <n>', 'pairs per step', wholeNumber, 256)
  .option('--hidden <n>', 'MLP hidden width', wholeNumber, 512)
  .option('--dims <n>', 'shared-space dimensions', wholeNumber, 256)
  .option('--steps <n>', 'steps per round', wholeNumber, 20)
  .option('--rounds <n>', 'interleaved rounds (median reported)', wholeNumber, 3)
  .option('--json <path>', 'also write the result as JSON');

const TARGET = 0.5;

runCli(async () => {
  const o = program
    .parse()
    .opts<{ batch: number; hidden: number; dims: number; steps: number; rounds: number; json?: string }>();
  await checkOutputPath(o.json);
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const runtime = runtimeOf(config, logger);
  const encoders = await loadEncoders(config, logger);
  const shape: StepGraphShape = {
    head: 'mlp',
    textDims: encoders.text.dims,
    imageDims: encoders.image.dims,
    hiddenDims: o.hidden,
    dims: o.dims,
  };
  await encoders.close();
  const B = o.batch;
  const rng = createRng(1);
  const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const xt = randn(B * shape.textDims);
  const xi = randn(B * shape.imageDims);
  const params = paramsFromWeights(createInitialWeights({ ...shape, seed: 1 }));

  // The roofline gets whichever thread setting is faster for it.
  const matmulSpin = await createSession(buildMatmulGraph(shape), runtime);
  const matmul = await createSession(buildMatmulGraph(shape), { ...runtime, spinning: false });
  const feeds: Record<string, ort.Tensor> = {
    'x.text': new ort.Tensor('float32', xt, [B, shape.textDims]),
    'x.image': new ort.Tensor('float32', xi, [B, shape.imageDims]),
  };
  for (const side of ['text', 'image'] as const) {
    const inDims = side === 'text' ? shape.textDims : shape.imageDims;
    feeds[`${side}.w1`] = new ort.Tensor('float32', params.get(`${side}.w1`)!, [inDims, shape.hiddenDims]);
    feeds[`${side}.w2`] = new ort.Tensor('float32', params.get(`${side}.w2`)!, [
      shape.hiddenDims,
      shape.dims,
    ]);
  }
  const step = await TrainStep.create(shape, runtime);
  // Random features for the full trainer: one caption per image, `steps` batches per epoch.
  const n = B * o.steps;
  const subset: FeatureSubset = {
    text: randn(n * shape.textDims),
    image: randn(n * shape.imageDims),
    textDims: shape.textDims,
    imageDims: shape.imageDims,
    captionImage: Int32Array.from({ length: n }, (_, i) => i),
    imageCaptions: Array.from({ length: n }, (_, i) => [i]),
  };

  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    await fn(); // warm-up
    const t = performance.now();
    for (let s = 0; s < o.steps; s++) await fn();
    return (B * o.steps) / ((performance.now() - t) / 1000);
  };
  const results = { matmul: [] as number[], step: [] as number[], trainer: [] as number[] };
  for (let r = 0; r < o.rounds; r++) {
    const spin = await timed(() => matmulSpin.run(feeds));
    results.matmul.push(Math.max(spin, await timed(() => matmul.run(feeds))));
    results.step.push(await timed(() => step.run(xt, xi, B, params)));
    const fit = await fitProjection(
      subset,
      undefined,
      { ...shape, epochs: 1, batchSize: B, seed: r },
      runtime,
    );
    results.trainer.push(fit.pairsPerSecond);
  }
  await matmul.release();
  await matmulSpin.release();
  await step.close();

  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
  const perHead = (inDims: number) =>
    2 * B * (2 * inDims * shape.hiddenDims + 3 * shape.hiddenDims * shape.dims);
  const flopsPerStep = perHead(shape.textDims) + perHead(shape.imageDims) + 6 * B * B * shape.dims;
  const rows = [
    { name: 'ORT MatMuls only (roofline)', pairsPerSecond: median(results.matmul) },
    { name: 'ORT training-step graph', pairsPerSecond: median(results.step) },
    { name: 'trainer (step + AdamW + batching)', pairsPerSecond: median(results.trainer) },
  ].map((row) => ({
    ...row,
    pairsPerSecond: Math.round(row.pairsPerSecond),
    msPerStep: Number(((1000 * B) / row.pairsPerSecond).toFixed(2)),
    gflops: Number(((flopsPerStep * row.pairsPerSecond) / B / 1e9).toFixed(1)),
  }));
  const value = Number((median(results.trainer) / median(results.matmul)).toFixed(3));
  console.log(
    `shapes: batch ${B}, text ${shape.textDims} -> ${shape.hiddenDims} -> ${shape.dims}, image ${shape.imageDims} -> ${shape.hiddenDims} -> ${shape.dims}; ${(flopsPerStep / 1e9).toFixed(2)} GFLOP of matrix products per step`,
  );
  console.log('');
  console.log('path                                  pairs/s   ms/step   GFLOP/s');
  for (const row of rows)
    console.log(
      `${row.name.padEnd(36)} ${String(row.pairsPerSecond).padStart(8)}  ${row.msPerStep.toFixed(2).padStart(8)}  ${row.gflops.toFixed(1).padStart(8)}`,
    );
  console.log('');
  console.log(`train_over_matmul_roofline = ${value} (target ${TARGET})`);
  if (o.json) {
    await writeFile(
      o.json,
      `${JSON.stringify({ metric: 'train_over_matmul_roofline', value, target: TARGET, shape, rows }, null, 2)}\n`,
    );
  }
});
