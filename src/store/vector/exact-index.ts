import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';
import { writeFileAtomic } from '../../atomic-file.ts';
import { checkQuery, checkRows } from './checks.ts';
import { checkFile } from './file-check.ts';
import { TopK, dotRow } from './top-k.ts';
import type { IndexSnapshot, SearchHit, SearchOptions, VectorIndex } from './types.ts';

const MAGIC = 0x58454d43; // 'CMEX'
const VERSION = 1;
const HEADER_BYTES = 16;

/**
 * Brute force over one row-major Float32Array. Deletion moves the last row into the hole, so the
 * array stays dense and a scan never skips tombstones.
 */
export class ExactIndex implements VectorIndex {
  readonly implementation = 'exact' as const;
  private data: Float32Array;
  private rowIds: number[] = [];
  private readonly rowOf = new Map<number, number>();

  constructor(
    readonly dims: number,
    /** @default 1024 rows, doubled as needed */
    initialCapacity = 1024,
  ) {
    if (!Number.isInteger(dims) || dims <= 0)
      throw new AppError('INVALID_INPUT', `dims must be a positive integer, got ${dims}`);
    this.data = new Float32Array(Math.max(1, initialCapacity) * dims);
  }

  get size(): number {
    return this.rowIds.length;
  }

  add(ids: readonly number[], vectors: Float32Array): void {
    checkRows(ids, vectors, this.dims);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      let row = this.rowOf.get(id);
      if (row === undefined) {
        row = this.rowIds.length;
        this.ensureCapacity(row + 1);
        this.rowIds.push(id);
        this.rowOf.set(id, row);
      }
      this.data.set(vectors.subarray(i * this.dims, (i + 1) * this.dims), row * this.dims);
    }
  }

  remove(ids: readonly number[]): number {
    let removed = 0;
    for (const id of ids) {
      const row = this.rowOf.get(id);
      if (row === undefined) continue;
      const last = this.rowIds.length - 1;
      if (row !== last) {
        const lastId = this.rowIds[last] as number;
        this.data.copyWithin(row * this.dims, last * this.dims, (last + 1) * this.dims);
        this.rowIds[row] = lastId;
        this.rowOf.set(lastId, row);
      }
      this.rowIds.pop();
      this.rowOf.delete(id);
      removed++;
    }
    return removed;
  }

  has(id: number): boolean {
    return this.rowOf.has(id);
  }

  ids(): number[] {
    return [...this.rowIds];
  }

  /** A copy of the stored vector, or undefined. */
  get(id: number): Float32Array | undefined {
    const row = this.rowOf.get(id);
    return row === undefined ? undefined : this.data.slice(row * this.dims, (row + 1) * this.dims);
  }

  search(query: Float32Array, k: number, options: SearchOptions = {}): SearchHit[] {
    checkQuery(query, this.dims, k);
    const top = new TopK(Math.min(k, this.size));
    if (top.k === 0) return [];
    const { filter } = options;
    if (filter !== undefined && typeof filter !== 'function' && filter.size < this.size) {
      // A small allowed set: visit only those rows instead of scanning everything.
      for (const id of filter) {
        const row = this.rowOf.get(id);
        if (row !== undefined) top.push(id, dotRow(query, this.data, row, this.dims));
      }
      return top.result();
    }
    const n = this.rowIds.length;
    for (let row = 0; row < n; row++) {
      const id = this.rowIds[row] as number;
      if (filter !== undefined && !(typeof filter === 'function' ? filter(id) : filter.has(id))) continue;
      top.push(id, dotRow(query, this.data, row, this.dims));
    }
    return top.result();
  }

  async save(dir: string, file: string): Promise<IndexSnapshot> {
    const n = this.size;
    const buffer = Buffer.alloc(HEADER_BYTES + n * 4 + n * this.dims * 4);
    buffer.writeUInt32LE(MAGIC, 0);
    buffer.writeUInt32LE(VERSION, 4);
    buffer.writeUInt32LE(this.dims, 8);
    buffer.writeUInt32LE(n, 12);
    for (let i = 0; i < n; i++) buffer.writeUInt32LE(this.rowIds[i] as number, HEADER_BYTES + i * 4);
    const floats = new Float32Array(buffer.buffer, buffer.byteOffset + HEADER_BYTES + n * 4, n * this.dims);
    floats.set(this.data.subarray(0, n * this.dims));
    await writeFileAtomic(path.join(dir, file), buffer);
    const sha256 = createHash('sha256').update(buffer).digest('hex');
    return {
      file,
      implementation: 'exact',
      dims: this.dims,
      count: n,
      deleted: [],
      bytes: buffer.length,
      sha256,
    };
  }

  static async load(dir: string, snapshot: IndexSnapshot): Promise<ExactIndex> {
    const full = path.join(dir, snapshot.file);
    await checkFile(full, snapshot);
    const buffer = await readFile(full).catch((cause: unknown) => {
      throw new AppError('INDEX_CORRUPT', `Cannot read index file ${full}`, { cause });
    });
    const corrupt = (why: string) => new AppError('INDEX_CORRUPT', `Index file ${full} is corrupt: ${why}`);
    if (buffer.length < HEADER_BYTES || buffer.readUInt32LE(0) !== MAGIC) throw corrupt('bad magic');
    if (buffer.readUInt32LE(4) !== VERSION) throw corrupt(`unsupported version ${buffer.readUInt32LE(4)}`);
    const dims = buffer.readUInt32LE(8);
    const n = buffer.readUInt32LE(12);
    if (dims !== snapshot.dims) throw corrupt(`dims ${dims}, manifest says ${snapshot.dims}`);
    if (buffer.length !== HEADER_BYTES + n * 4 + n * dims * 4) throw corrupt('truncated');
    const index = new ExactIndex(dims, n);
    const ids: number[] = [];
    for (let i = 0; i < n; i++) ids.push(buffer.readUInt32LE(HEADER_BYTES + i * 4));
    // Copy out: the Buffer's offset may not be 4-byte aligned for a Float32Array view.
    const bytes = buffer.subarray(HEADER_BYTES + n * 4);
    const vectors = new Float32Array(new Uint8Array(bytes).buffer, 0, n * dims);
    index.add(ids, vectors);
    return index;
  }

  private ensureCapacity(rows: number): void {
    if (rows * this.dims <= this.data.length) return;
    const capacity = Math.max(rows, 2 * (this.data.length / this.dims), 1);
    const next = new Float32Array(capacity * this.dims);
    next.set(this.data.subarray(0, this.rowIds.length * this.dims));
    this.data = next;
  }
}
