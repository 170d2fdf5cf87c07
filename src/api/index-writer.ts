/**
 * Mutations, through the same ingest code as the batch indexer. Uploaded bytes are kept under
 * DATA_DIR/uploads/<sha256> first, so the stored uri points at a real file (thumbnails, reindex).
 */
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../atomic-file.ts';
import type { Config } from '../config.ts';
import { ingestOne } from '../ingest/ingest-one.ts';
import type { Logger } from '../logger.ts';
import type { Embedder } from '../models/types.ts';
import { CaptionsRepository } from '../store/captions.repository.ts';
import type { Db } from '../store/db.ts';
import { ImagesRepository } from '../store/images.repository.ts';
import type { IndexSet } from '../store/vector/index-set.ts';
import { VectorsRepository } from '../store/vectors.repository.ts';
import type { IndexWriter } from './context.ts';

export interface IndexWriterDeps {
  config: Readonly<Config>;
  db: Db;
  embedder: Embedder;
  indexes: IndexSet;
  logger: Logger;
}

async function keepUpload(dir: string, bytes: Buffer): Promise<string> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const file = path.join(dir, sha256);
  const exists = await stat(file).then(
    (s) => s.size === bytes.length,
    () => false,
  );
  if (!exists) {
    await mkdir(dir, { recursive: true });
    // The upload is the only copy of the user's image: on disk for good before the database says so.
    await writeFileAtomic(file, bytes);
  }
  return file;
}

export function createIndexWriter(deps: IndexWriterDeps): IndexWriter {
  const { config, db, embedder, indexes, logger } = deps;
  const uploads = path.join(config.dataDir, 'uploads');
  const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
  return {
    async addImage({ bytes, captions, metadata, filename }) {
      const file = await keepUpload(uploads, bytes);
      const result = await ingestOne(
        {
          bytes,
          captions,
          metadata: filename ? { ...metadata, filename } : metadata,
          uri: pathToFileURL(file).toString(),
        },
        { db, embedder, indexes, limits, logger },
      );
      logger.info({ imageId: result.imageId, status: result.status }, 'image added through the API');
      return { status: result.status, imageId: result.imageId };
    },

    async addCaptions(imageId, texts) {
      const { vectors } = await embedder.embedTexts(texts);
      const added = await db.transaction(async (tx) => {
        const captions = await new CaptionsRepository(tx).add(imageId, texts);
        await new VectorsRepository(tx).upsert(
          'caption',
          embedder.fingerprint,
          captions.map((c, i) => ({ id: c.id, vector: vectors[i]! })),
        );
        return captions;
      });
      // Only after the commit: the index never holds what Postgres does not.
      indexes.add(
        'caption',
        added.map((c) => c.id),
        vectors,
      );
      return added;
    },

    async deleteImage(id) {
      const captions = await new CaptionsRepository(db).getByImageIds([id]);
      const deleted = await new ImagesRepository(db).softDelete(id);
      if (deleted) {
        indexes.markDeleted('image', [id]);
        indexes.markDeleted(
          'caption',
          (captions.get(id) ?? []).map((c) => c.id),
        );
      }
      return deleted;
    },
  };
}
