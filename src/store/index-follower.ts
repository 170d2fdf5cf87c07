import type { Logger } from '../logger.ts';
import type { Db } from './db.ts';
import { ChangeLogPruner } from './change-log-pruner.ts';
import { applyCommitted, type IndexTarget } from './index-lifecycle.ts';
import { VECTOR_CHANGES_CHANNEL, VectorChangesRepository } from './vector-changes.repository.ts';
import type { IndexSet } from './vector/index-set.ts';
import type { VectorKind } from './vectors.repository.ts';

/**
 * Keeps an API process's in-process index in step with rows other processes commit (API
 * replicas, indexer workers). It reads the change log (migrations/003) by transaction visibility:
 * each poll takes one snapshot, applies every change it sees from transactions at or above the
 * previous poll's xmin, and moves the window to this snapshot's xmin. A transaction that commits
 * late with a smaller id or seq is still at or above that xmin, so it is read when it commits,
 * never skipped. Changes are applied as the committed state of the touched ids (index-lifecycle.ts,
 * rule 6), so reading one twice is harmless.
 *
 * LISTEN/NOTIFY wakes it at each commit; polling every `pollMs` is the fallback (a lost listen
 * connection, a notification dropped under load).
 */

export interface FollowTarget extends IndexTarget {
  has(kind: VectorKind, id: number): boolean;
}

export interface FollowerOptions {
  db: Db;
  target: FollowTarget;
  /**
   * The xmin read before the index was loaded and reconciled: every change below it is in the
   * index already. From `readHorizon`.
   */
  from: string;
  logger: Logger;
  /** The polling fallback. @default 1000 */
  pollMs?: number;
  /**
   * Runs each poll (snapshot read and index update) so this process's own writes cannot
   * interleave with it: the API passes its write gate, exclusively. @default runs it directly
   */
  around?: <T>(apply: () => Promise<T>) => Promise<T>;
  /** Log rows are deleted once every follower has read them: after this long. @default 600000 */
  retentionMs?: number;
}

export interface FollowReport {
  changes: number;
  added: number;
  removed: number;
  horizon: string;
}

export interface IndexFollower {
  /** Applies everything committed so far, now. */
  poll(): Promise<FollowReport>;
  stop(): Promise<void>;
}

/** Where a follower of an index about to be loaded starts: read before loading it. */
export function readHorizon(db: Db): Promise<string> {
  return VectorChangesRepository.inSnapshot(db, (repo) => repo.horizon());
}

const CHUNK = 10_000;

export async function startFollower(options: FollowerOptions): Promise<IndexFollower> {
  const { db, target, logger } = options;
  const pollMs = options.pollMs ?? 1000;
  const around = options.around ?? ((apply) => apply());
  let from = options.from;
  // Changes already applied whose transactions are at or above `from`: read again, skipped.
  const seen = new Map<number, bigint>();
  const pruner = new ChangeLogPruner(db, options.retentionMs);
  let stopped = false;
  let wake: (() => void) | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  // One poll at a time: the window only moves forward.
  let polling: Promise<unknown> = Promise.resolve();
  function poll(): Promise<FollowReport> {
    const run = polling.then(pollOnce, pollOnce);
    polling = run.catch(() => undefined);
    return run;
  }

  async function pollOnce(): Promise<FollowReport> {
    return around(() =>
      VectorChangesRepository.inSnapshot(db, async (repo) => {
        const horizon = await repo.horizon();
        const fresh = (await repo.since(from)).filter((c) => !seen.has(c.seq));
        const report: FollowReport = { changes: fresh.length, added: 0, removed: 0, horizon };
        for (const kind of ['image', 'caption'] as const) {
          const ids = [...new Set(fresh.filter((c) => c.kind === kind).map((c) => c.id))];
          for (let i = 0; i < ids.length; i += CHUNK) {
            const chunk = ids.slice(i, i + CHUNK);
            const live = await repo.liveVectors(kind, target.fingerprint, chunk);
            const liveIds = new Set(live.map((r) => r.id));
            const applied = applyCommitted(target, {
              kind,
              live,
              gone: chunk.filter((id) => !liveIds.has(id)),
            });
            report.added += applied.added;
            report.removed += applied.removed;
          }
        }
        for (const c of fresh) seen.set(c.seq, BigInt(c.xid));
        // Everything below the horizon was visible to this snapshot, so it has been read.
        from = horizon;
        const floor = BigInt(horizon);
        for (const [seq, xid] of seen) if (xid < floor) seen.delete(seq);
        return report;
      }),
    );
  }

  async function subscribe(): Promise<void> {
    if (!db.listen || stopped) return;
    try {
      unlisten = await db.listen(
        VECTOR_CHANGES_CHANNEL,
        () => wake?.(),
        (err) => {
          logger.warn({ err }, 'index follower lost its LISTEN connection; polling until it is back');
          unlisten = undefined;
        },
      );
    } catch (err) {
      logger.warn({ err }, 'index follower cannot LISTEN; polling only');
    }
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (stopped) break;
      try {
        const report = await poll();
        if (report.changes > 0) logger.debug({ ...report }, 'index follower applied changes');
        await pruner.tick(from);
        if (!unlisten) await subscribe();
      } catch (err) {
        logger.warn({ err }, 'index follower poll failed; retrying');
      }
    }
  }

  await subscribe();
  const running = loop();
  // The first poll at once: catches up with what committed while the index was loading.
  wake?.();
  return {
    poll,
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await unlisten?.();
    },
  };
}

/** The index set as a follower's target (ids are per kind: image ids and caption ids). */
export function asFollowTarget(set: IndexSet): FollowTarget {
  return {
    fingerprint: set.fingerprint,
    dims: set.dims,
    add: (kind, ids, vectors) => set.add(kind, ids, vectors),
    markDeleted: (kind, ids) => set.markDeleted(kind, ids),
    has: (kind, id) => (kind === 'image' ? set.images : set.captions).has(id),
  };
}
