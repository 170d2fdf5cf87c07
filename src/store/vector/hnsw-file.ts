import hnswlib from 'hnswlib-node';
import { AppError } from '../../errors.ts';
import { proveFile, type FileProof } from './file-check.ts';

/**
 * Proves a graph file hnswlib just wrote: its writer ignores write errors (a full disk leaves a
 * short file), so the file is read back by hnswlib itself, which checks its structure against its
 * length, and must hold exactly the points written.
 */
export async function proveGraphFile(tmp: string, dims: number, points: number): Promise<FileProof> {
  const proof = await proveFile(tmp);
  const copy = new hnswlib.HierarchicalNSW('ip', dims);
  try {
    // The async reader runs on a worker thread: the event loop keeps serving meanwhile.
    await copy.readIndex(tmp);
  } catch (cause) {
    throw new AppError('INDEX_CORRUPT', `Writing ${tmp} failed: hnswlib cannot read it back (disk full?)`, {
      cause,
      details: { bytes: proof.bytes },
    });
  }
  if (copy.getCurrentCount() !== points) {
    throw new AppError(
      'INDEX_CORRUPT',
      `Writing ${tmp} failed: it holds ${copy.getCurrentCount()} points, ${points} were written`,
    );
  }
  return proof;
}
