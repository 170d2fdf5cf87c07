import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where a V8 CPU profile (`node --cpu-prof`) spent the main thread's time, by stage of a query.
 * A sample belongs to the first rule matching its own frame or, failing that, its nearest caller's.
 * ORT's own threads are not in it: encode here is tokenising, tensor set-up and the JS side of
 * the run; the matrix work shows as CPU the main thread could not use.
 */
const STAGES: [string, RegExp][] = [
  ['PGlite (SQL in WebAssembly)', /@electric-sql\/pglite/],
  ['pg driver', /node_modules\/pg(-[a-z]+)?\//],
  ['hydration', /src\/search\/hydrate|src\/store\/(images|captions)\.repository/],
  [
    'encode (tokenise, ORT, projection)',
    /onnxruntime|@huggingface\/transformers|src\/models\/|encode-query|query-batcher/,
  ],
  ['vector search (HNSW, rank, paging)', /hnswlib|src\/store\/vector|src\/search\//],
  ['GraphQL (parse, validate, execute)', /node_modules\/graphql\//],
  ['Apollo Server', /@apollo\//],
  ['HTTP server', /src\/api\/|node:_http|node:http|node:net|node:internal\/(http|stream|streams)/],
  ['metrics and logging', /prom-client|pino/],
  ['module loading (start-up)', /node:internal\/modules|esm\/|cjs-module-lexer|tsx\/dist/],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface StageShare {
  stage: string;
  ms: number;
  /** Of the busy (non-idle) time. */
  share: number;
}

export function stagesOf(profile: {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}): StageShare[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const stageOf = (id: number): string => {
    const known = memo.get(id);
    if (known) return known;
    const frame = byId.get(id)!.callFrame;
    const rule = STAGES.find(([, re]) => re.test(frame.url));
    const up = parent.get(id);
    const stage =
      rule?.[0] ??
      (up !== undefined && !frame.functionName.startsWith('(') ? stageOf(up) : frame.functionName || 'other');
    memo.set(id, stage === '(root)' ? 'other' : stage);
    return memo.get(id)!;
  };
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const stage = stageOf(id);
    totals.set(stage, (totals.get(stage) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  totals.delete('(idle)');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals]
    .map(([stage, ms]) => ({ stage, ms: Math.round(ms), share: Number((ms / busy).toFixed(3)) }))
    .sort((a, b) => b.ms - a.ms);
}

/** The main thread's profile in `dir` (the largest file: worker threads write small ones). */
export async function readMainProfile(dir: string): Promise<Parameters<typeof stagesOf>[0]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const texts = await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')));
  const main = texts.sort((a, b) => b.length - a.length)[0];
  if (main === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(main) as Parameters<typeof stagesOf>[0];
}
