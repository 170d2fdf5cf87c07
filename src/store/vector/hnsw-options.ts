export interface HnswParams {
  /** Graph degree. @default 16 */
  m: number;
  /** Beam width while building. @default 200 */
  efConstruction: number;
  /** Beam width while searching (raised to at least k per query). @default 64 */
  ef: number;
}

export const DEFAULT_HNSW_PARAMS: Readonly<HnswParams> = Object.freeze({
  m: 16,
  efConstruction: 200,
  ef: 64,
});

export interface HnswOptions extends Partial<HnswParams> {
  /** Rows allocated up front; the index doubles when full. @default 1024 */
  initialCapacity?: number;
  /**
   * A filter given as a Set at most this large is answered by exact scoring of just those ids,
   * which beats a graph walk that must reject almost every node it visits.
   * @default DEFAULT_EXACT_SEARCH_THRESHOLD (config.ts: EXACT_SEARCH_THRESHOLD)
   */
  exactFilterLimit?: number;
  /** Seed of hnswlib's level generator, so builds are reproducible. @default 100 */
  seed?: number;
  /**
   * Rebuild the graph from the live vectors once deleted ids make up this share of it (checked
   * before each add and on load). hnswlib only marks deletions and links a new point to live
   * neighbours only, so in a mostly deleted graph new points end up with few or no in-links and
   * searches cannot reach them. At 0.5 each rebuild re-inserts at most as many vectors as were
   * deleted since the last one, so the repair costs at most one insert per delete. @default 0.5
   */
  compactAt?: number;
  /**
   * Rebuild in the background when an add finds the graph due (`compactAt`): the new graph is
   * built `rebuildSlice` vectors per event-loop turn while this one keeps serving, so a server's
   * add never runs a whole rebuild in one turn. Off, `add` rebuilds synchronously, which suits a
   * CLI or a test that wants the repaired graph at once. Loading always rebuilds synchronously
   * (start-up, before anything is served). @default false
   */
  backgroundRebuild?: boolean;
  /**
   * Vectors a background rebuild inserts per event-loop turn. At the defaults (M 16,
   * efConstruction 200) one insert into a 256-d graph takes about 0.5 ms of CPU, so 32 keeps
   * each turn near 17 ms (the longest measured: 29 ms of CPU, against 5.4 s for the whole
   * rebuild of 10k vectors in one turn; `npm run bench:index-repair`). Smaller turns answer
   * sooner; the rebuild's total CPU hardly changes. @default 32
   */
  rebuildSlice?: number;
  /**
   * Told when a background rebuild fails; the current graph stays in force and the next add
   * tries again. @default ignore
   */
  onRebuildError?: (error: unknown) => void;
}
