import { invariant } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import type { VectorKind } from './vectors.repository.ts';

/**
 * The index lifecycle: how Postgres rows (the source of truth) and an in-process vector index
 * (a read model) stay in step. Every write path goes through here, so these rules hold by
 * construction and are checked at run time (test/lifecycle/lifecycle-rules.test.ts, one test each):
 *
 * 1. A vector enters the index only after its row commits: changes collected inside a transaction
 *    are applied once `db.transaction` has resolved, and never when it throws.
 * 2. A deleted row's vector leaves the index: a soft delete hands its image and caption ids to
 *    `remove`, applied after the delete commits.
 * 3. A change buffer belongs to one transaction: using it after that transaction ended is a bug
 *    (an `invariant` throws), so nothing reaches the index on a path the commit did not cover.
 * 4. Only vectors of the index's models and size enter it (fingerprint and dimensions checked).
 * 5. A process that writes rows only (an indexer worker) has no index to touch: `ROWS_ONLY`.
 *    Its rows reach API processes through their followers and `reindex`, which derive the index.
 * 6. Rows committed by other processes enter only as committed state read back from Postgres
 *    (reconcile on open, the follower while running): `applyCommitted`, never a guess.
 */

/** What an index must offer the lifecycle: the index set satisfies it. */
export interface IndexTarget {
  readonly fingerprint: string;
  readonly dims: number;
  add(kind: VectorKind, ids: readonly number[], vectors: readonly Float32Array[]): void;
  markDeleted(kind: VectorKind, ids: readonly number[]): number;
}

/** A process that writes rows and keeps no index (rule 5). */
export interface RowsOnly {
  readonly fingerprint: string;
  readonly dims: number;
  readonly rowsOnly: true;
}

export type Mirror = IndexTarget | RowsOnly;

export function rowsOnly(space: { fingerprint: string; dims: number }): RowsOnly {
  return { fingerprint: space.fingerprint, dims: space.dims, rowsOnly: true };
}

export const isRowsOnly = (m: Mirror): m is RowsOnly => 'rowsOnly' in m;

export interface VectorRow {
  id: number;
  vector: Float32Array;
}

/** The index changes one transaction makes, collected while it runs (rules 1 and 3). */
export class IndexChanges {
  private readonly adds: Record<VectorKind, VectorRow[]> = { image: [], caption: [] };
  private readonly removes: Record<VectorKind, number[]> = { image: [], caption: [] };
  private open = true;

  constructor(private readonly space: { fingerprint: string; dims: number }) {}

  add(kind: VectorKind, rows: readonly VectorRow[]): void {
    invariant(this.open, 'index changes recorded after their transaction ended (rule 3)');
    for (const r of rows)
      invariant(
        r.vector.length === this.space.dims,
        `a ${r.vector.length}-d vector for a ${this.space.dims}-d index (rule 4)`,
      );
    this.adds[kind].push(...rows);
  }

  remove(kind: VectorKind, ids: readonly number[]): void {
    invariant(this.open, 'index changes recorded after their transaction ended (rule 3)');
    this.removes[kind].push(...ids);
  }

  /** Ends the buffer's life; the changes come back to be applied (or dropped on rollback). */
  seal(): { adds: Record<VectorKind, VectorRow[]>; removes: Record<VectorKind, number[]> } {
    this.open = false;
    return { adds: this.adds, removes: this.removes };
  }
}

/**
 * Runs `work` in one transaction and, only once it has committed, applies the index changes it
 * recorded to `mirror` (nothing for a rows-only process). A throw rolls back and applies nothing.
 */
export async function commitThenIndex<T>(
  db: Db,
  mirror: Mirror,
  work: (tx: Queryable, changes: IndexChanges) => Promise<T>,
): Promise<T> {
  const changes = new IndexChanges(mirror);
  let result: T;
  try {
    result = await db.transaction((tx) => work(tx, changes));
  } finally {
    changes.seal();
  }
  const { adds, removes } = changes.seal();
  if (isRowsOnly(mirror)) return result;
  for (const kind of ['image', 'caption'] as const) {
    if (adds[kind].length > 0)
      mirror.add(
        kind,
        adds[kind].map((r) => r.id),
        adds[kind].map((r) => r.vector),
      );
    if (removes[kind].length > 0) mirror.markDeleted(kind, removes[kind]);
  }
  return result;
}

/** The committed state of some ids, as read back from Postgres by one snapshot (rule 6). */
export interface CommittedState {
  kind: VectorKind;
  /** Ids live with a vector of the mirror's fingerprint: in the index with this vector. */
  live: readonly VectorRow[];
  /** Ids deleted, or without a vector of the mirror's fingerprint: out of the index. */
  gone: readonly number[];
}

/**
 * Makes the index match committed state read from Postgres; ids already present keep their
 * vector (a vector of one fingerprint and id never changes). Returns what changed.
 */
export function applyCommitted(
  index: IndexTarget & { has(kind: VectorKind, id: number): boolean },
  state: CommittedState,
): { added: number; removed: number } {
  const fresh = state.live.filter((r) => !index.has(state.kind, r.id));
  for (const r of fresh)
    invariant(
      r.vector.length === index.dims,
      `a ${r.vector.length}-d vector for a ${index.dims}-d index (rule 4)`,
    );
  if (fresh.length > 0)
    index.add(
      state.kind,
      fresh.map((r) => r.id),
      fresh.map((r) => r.vector),
    );
  const removed = state.gone.length > 0 ? index.markDeleted(state.kind, state.gone) : 0;
  return { added: fresh.length, removed };
}
