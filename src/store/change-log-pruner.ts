import type { Db } from './db.ts';
import { VectorChangesRepository } from './vector-changes.repository.ts';

/**
 * Deletes change-log rows (migrations/003) once every follower has read them. A follower reads
 * all rows of transactions at or above the xmin of its previous poll, and xmin only moves forward;
 * so rows of transactions below the xmin seen `retentionMs` ago were read by every follower that
 * polled since, and a follower silent for longer reconciles when it reopens. Any process on the
 * server may prune (followers and workers do), so the log stays bounded with either alone.
 */
export class ChangeLogPruner {
  private readonly samples: { at: number; xid: string }[] = [];
  private lastPrune = 0;

  constructor(
    private readonly db: Db,
    /** @default 600000 */
    private readonly retentionMs = 600_000,
    /** How often `tick` does anything. @default 60000 */
    private readonly everyMs = 60_000,
  ) {}

  /** Samples the current horizon and prunes below the oldest sample past retention. */
  async tick(horizon?: string): Promise<number> {
    const now = Date.now();
    if (now - this.lastPrune < this.everyMs) return 0;
    this.lastPrune = now;
    const xid = horizon ?? (await VectorChangesRepository.inSnapshot(this.db, (repo) => repo.horizon()));
    this.samples.push({ at: now, xid });
    let old: { at: number; xid: string } | undefined;
    while (this.samples.length > 0 && now - this.samples[0]!.at >= this.retentionMs)
      old = this.samples.shift();
    return old ? new VectorChangesRepository(this.db).prune(old.xid) : 0;
  }
}
