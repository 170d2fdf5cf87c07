import { AppError } from '../../errors.ts';
import type { VectorKind, VectorsRepository } from '../vectors.repository.ts';
import type { VectorIndex } from './types.ts';

export interface ReconcileReport {
  /** Vectors Postgres had and the index file lacked (a crash after commit, before checkpoint). */
  added: number;
  /** Ids marked deleted because their image was soft-deleted. */
  deleted: number;
  /** Whether the cheap pass left counts unequal, so a full id comparison ran. */
  fullScan: boolean;
  maxId: number;
}

const PAGE = 2000;

/**
 * Makes `index` hold exactly the live vectors Postgres holds for `fingerprint`. Postgres is the
 * source of truth and index adds happen after the database commit, so the index can only lag:
 * the cheap pass adds everything past the file's highest id and applies soft deletes. If the live
 * counts still differ (ids committed out of order, captions replaced, rows removed by hand), one
 * full pass compares every id.
 */
export async function reconcile(
  index: VectorIndex,
  vectors: VectorsRepository,
  kind: VectorKind,
  fingerprint: string,
  fromId: number,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { added: 0, deleted: 0, fullScan: false, maxId: fromId };
  await addFrom(fromId, () => true);
  report.deleted += index.remove(await vectors.deletedIds(kind, fingerprint));

  if (index.size !== (await vectors.count(kind, fingerprint))) {
    report.fullScan = true;
    const live = new Set<number>();
    await addFrom(0, (id) => {
      live.add(id);
      return !index.has(id);
    });
    report.deleted += index.remove(index.ids().filter((id) => !live.has(id)));
  }
  return report;

  async function addFrom(afterId: number, wanted: (id: number) => boolean): Promise<void> {
    for (;;) {
      const page = await vectors.scan(kind, fingerprint, { afterId, limit: PAGE });
      if (page.length === 0) return;
      for (const r of page) {
        if (r.vector.length !== index.dims) {
          throw new AppError(
            'MODEL_MISMATCH',
            `Postgres holds a ${r.vector.length}-d ${kind} vector ${r.id} for fingerprint ${fingerprint}, the index is ${index.dims}-d; run \`npm run reindex\``,
          );
        }
      }
      const rows = page.filter((r) => wanted(r.id));
      if (rows.length > 0) {
        const flat = new Float32Array(rows.length * index.dims);
        rows.forEach((r, i) => flat.set(r.vector, i * index.dims));
        index.add(
          rows.map((r) => r.id),
          flat,
        );
        report.added += rows.length;
      }
      afterId = page[page.length - 1]!.id;
      report.maxId = Math.max(report.maxId, afterId);
    }
  }
}
