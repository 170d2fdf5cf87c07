import { createHash } from 'node:crypto';
import type { Db, Queryable } from '../../src/store/db.ts';
import { CaptionsRepository } from '../../src/store/captions.repository.ts';
import { ImagesRepository } from '../../src/store/images.repository.ts';
import type { SearchHit } from '../../src/store/vector/types.ts';
import { VectorsRepository, type VectorKind } from '../../src/store/vectors.repository.ts';
import { unitVectors } from '../vector/vectors.ts';

/**
 * A small collection in a real database, written the way the pipeline writes it: rows and
 * vectors in one transaction. Vectors are a pure function of (fingerprint, kind, id), so "new
 * models" re-embed everything into a different space. The exact answers come from the vectors
 * in the database, never from an index.
 */
export class Collection {
  private counter = 0;

  constructor(
    readonly db: Db,
    public fingerprint: string,
    readonly dims: number,
    private readonly name: string,
  ) {}

  vectorOf(kind: VectorKind, id: number, fingerprint = this.fingerprint): Float32Array {
    const seed = createHash('sha256').update(`${fingerprint}|${kind}|${id}`).digest().readUInt32LE(0);
    return unitVectors(1, this.dims, seed);
  }

  /** Commits `n` images with `captionsEach` captions and their vectors; returns the new ids. */
  async addImages(n: number, captionsEach = 1): Promise<{ imageIds: number[]; captionIds: number[] }> {
    const imageIds: number[] = [];
    const captionIds: number[] = [];
    await this.db.transaction(async (tx) => {
      const images = new ImagesRepository(tx);
      for (let i = 0; i < n; i++) {
        const seq = ++this.counter;
        const texts = Array.from({ length: captionsEach }, (_, c) => `${this.name} ${seq} caption ${c}`);
        const { image, captions } = await images.insertWithCaptions(
          {
            sha256: createHash('sha256').update(`${this.name}-${seq}`).digest('hex'),
            uri: `file:///${this.name}/${seq}.jpg`,
            // Widths 10..19, so a minWidth filter keeps a predictable share.
            width: 10 + (seq % 10),
            height: 10,
            format: 'jpeg',
            bytes: 100,
          },
          texts,
        );
        imageIds.push(image.id);
        captionIds.push(...captions.map((c) => c.id));
      }
      await this.embed(tx, 'image', imageIds);
      await this.embed(tx, 'caption', captionIds);
    });
    return { imageIds, captionIds };
  }

  async addCaptions(imageId: number, n: number): Promise<number[]> {
    return this.db.transaction(async (tx) => {
      const texts = Array.from({ length: n }, (_, c) => `${this.name} extra ${imageId}.${c}`);
      const ids = (await new CaptionsRepository(tx).add(imageId, texts)).map((c) => c.id);
      await this.embed(tx, 'caption', ids);
      return ids;
    });
  }

  /** Soft-deletes an image; returns the ids of its captions (which go with it). */
  async deleteImage(imageId: number): Promise<number[]> {
    const captions = (await new CaptionsRepository(this.db).getByImageIds([imageId])).get(imageId) ?? [];
    await new ImagesRepository(this.db).softDelete(imageId);
    return captions.map((c) => c.id);
  }

  /** Deletes every live image: the next scenario starts from an empty collection. */
  async deleteAll(): Promise<void> {
    for (;;) {
      const ids = await new ImagesRepository(this.db).filterIds(undefined, 1000);
      if (ids.length === 0) return;
      for (const id of ids) await new ImagesRepository(this.db).softDelete(id);
    }
  }

  /** What new models would do: vectors for every live row under `fingerprint`. */
  async reembed(fingerprint: string): Promise<void> {
    this.fingerprint = fingerprint;
    const imageIds = await new ImagesRepository(this.db).filterIds(undefined, 100_000);
    const captionIds = await new CaptionsRepository(this.db).filterIds(undefined, 100_000);
    await this.embed(this.db, 'image', imageIds);
    await this.embed(this.db, 'caption', captionIds);
  }

  /** Live vectors in the database for the current fingerprint, by id. */
  async live(kind: VectorKind): Promise<Map<number, Float32Array>> {
    const rows = await new VectorsRepository(this.db).scan(kind, this.fingerprint, {
      afterId: 0,
      limit: 100_000,
    });
    return new Map(rows.map((r) => [r.id, r.vector]));
  }

  /** Ids matching a database filter (the images' width), for the kind asked. */
  async widthAtLeast(kind: VectorKind, minWidth: number): Promise<Set<number>> {
    const repo = kind === 'image' ? new ImagesRepository(this.db) : new CaptionsRepository(this.db);
    return new Set(await repo.filterIds({ minWidth }, 100_000));
  }

  /** Brute force over the database's vectors, in float64: the ground truth. */
  async exact(kind: VectorKind, query: Float32Array, k: number, allowed?: Set<number>): Promise<SearchHit[]> {
    const hits: SearchHit[] = [];
    for (const [id, v] of await this.live(kind)) {
      if (allowed && !allowed.has(id)) continue;
      let score = 0;
      for (let d = 0; d < this.dims; d++) score += (query[d] as number) * (v[d] as number);
      hits.push({ id, score });
    }
    return hits.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, k);
  }

  private async embed(db: Queryable, kind: VectorKind, ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    const rows = ids.map((id) => ({ id, vector: this.vectorOf(kind, id) }));
    await new VectorsRepository(db).upsert(kind, this.fingerprint, rows);
  }
}
