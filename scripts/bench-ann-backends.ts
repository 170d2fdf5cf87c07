import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { loadConfig } from '../src/config.ts';
import { benchBackends, type SweepRow } from './lib/ann-pgvector.ts';
import { runCli, wholeNumber } from './lib/cli.ts';
import { clusteredWorkload, type ClusteredWorkload } from './lib/clustered-vectors.ts';

/**
 * The two vector backends side by side on the same seeded clustered unit vectors: pgvector (PGlite's
 * WASM build, in this process) and hnswlib-node. metric = pgvector_filtered_recall_min: the worst
 * recall@k against the exact filtered top-k over the selectivities, every search on the index path.
 */
const program = new Command('bench:ann-backends')
  .description(
    'pgvector (PGlite) vs hnswlib-node: recall, QPS at matched recall, build, memory, filtered search',
  )
  .option('--n <n>', 'vectors', wholeNumber, 20_000)
  .option('--dims <d>', 'dimensions', wholeNumber, 256)
  .option('--queries <q>', 'queries (not in the index)', wholeNumber, 100)
  .option('--k <k>', 'neighbours per query', wholeNumber, 10)
  .option('--clusters <c>', 'cluster centres', wholeNumber, 100)
  .option('--ef <list>', 'ef / hnsw.ef_search values to sweep', '10,20,40,80,160')
  .option('--selectivity <list>', 'filtered runs, in percent', '1,10,50')
  .option('--recall <r>', 'recall at which QPS is compared', '0.95')
  .option('--seed <seed>', 'generator seed', wholeNumber, 42)
  .option('--json <path>', 'also write the result as JSON');

interface Options extends ClusteredWorkload {
  k: number;
  ef: string;
  selectivity: string;
  recall: string;
  json?: string;
}

const TARGET = 0.95;

runCli(async () => {
  const o = program.parse().opts<Options>();
  const { m, efConstruction } = loadConfig().hnsw;
  const matched = Number(o.recall);
  log(
    `${o.n} x ${o.dims} clustered unit vectors, ${o.queries} queries, k=${o.k}, M=${m}, efConstruction=${efConstruction}`,
  );
  const result = await benchBackends({
    ...clusteredWorkload(o),
    dims: o.dims,
    k: o.k,
    efs: o.ef.split(',').map(wholeNumber),
    hnsw: { m, efConstruction },
    selectivities: o.selectivity.split(',').map((p) => Number(p) / 100),
    log,
  });
  const atRecall = (backend: SweepRow['backend']) =>
    result.sweep.find((r) => r.backend === backend && r.recall >= matched);
  const [h, p] = [atRecall('hnswlib'), atRecall('pgvector')];
  const indexPath = result.filtered.filter((r) => r.backend === 'pgvector' && r.path === 'index');
  const value = Math.min(...indexPath.map((r) => r.recall));

  console.log('\nrecall@%d and QPS per ef (no filter)', o.k);
  console.table(result.sweep);
  console.log('filtered search: recall@%d against the exact filtered top-k, and QPS', o.k);
  console.table(result.filtered);
  console.log(
    [
      `build: hnswlib ${(result.build.hnswlibMs / 1000).toFixed(1)} s; pgvector ${(result.build.pgvectorMs / 1000).toFixed(1)} s ` +
        `(move from bytea + CREATE INDEX; the index alone ${(result.build.pgvectorIndexMs / 1000).toFixed(1)} s)`,
      `memory: hnswlib +${result.memory.hnswlibRssMb} MB RSS; pgvector +${result.memory.pgvectorRssMb} MB RSS ` +
        `(WASM heap), table ${result.memory.pgvectorTableMb} MB, index ${result.memory.pgvectorIndexMb} MB`,
      `QPS at recall >= ${matched}: hnswlib ${h ? `${h.qps} (ef ${h.ef})` : 'not reached'}, pgvector ${p ? `${p.qps} (ef_search ${p.ef})` : 'not reached'}` +
        (h && p ? `; pgvector/hnswlib = ${(p.qps / h.qps).toFixed(3)}` : ''),
      `pgvector_filtered_recall_min: ${value} (target >= ${TARGET}; index path at ${indexPath.map((r) => r.selectivity).join(', ')})`,
    ].join('\n'),
  );
  if (o.json) {
    const json = {
      metric: 'pgvector_filtered_recall_min',
      value,
      target: TARGET,
      matchedRecall: matched,
      qpsAtMatchedRecall: { hnswlib: h ?? null, pgvector: p ?? null },
      ...result,
      n: o.n,
      dims: o.dims,
      queries: o.queries,
      k: o.k,
      m,
      efConstruction,
      pgvectorOn: 'PGlite (pgvector 0.8 compiled to WASM), in-process',
    };
    await writeFile(o.json, `${JSON.stringify(json, null, 2)}\n`);
  }
});

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
