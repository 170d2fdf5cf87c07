import { describeError } from '../../errors.ts';

/** What `/readyz` and `/metrics` report about index checkpoints. */
export interface CheckpointStatus {
  /** Generation named by the manifest on disk (0: none committed yet). */
  generation: number;
  /** ISO time of the last committed checkpoint, if any since opening. */
  lastSuccessAt?: string;
  /** ISO time and one-line reason of the last failed checkpoint, if any since opening. */
  lastFailureAt?: string;
  lastError?: string;
  /** Failures since the last success: above 0, changes since then exist only in Postgres. */
  consecutiveFailures: number;
  failuresTotal: number;
}

export function createCheckpointStatus(generation: number): {
  succeeded(generation: number): void;
  failed(error: unknown): void;
  current(): Readonly<CheckpointStatus>;
} {
  const status: CheckpointStatus = { generation, consecutiveFailures: 0, failuresTotal: 0 };
  return {
    succeeded(next) {
      status.generation = next;
      status.lastSuccessAt = new Date().toISOString();
      status.consecutiveFailures = 0;
    },
    failed(error) {
      status.lastFailureAt = new Date().toISOString();
      status.lastError = describeError(error);
      status.consecutiveFailures++;
      status.failuresTotal++;
    },
    current: () => ({ ...status }),
  };
}
