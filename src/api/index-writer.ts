/**
 * Mutations, through the same ingest code as the batch indexer. Uploaded bytes are kept under
 * DATA_DIR/uploads/<sha256> first, so the stored uri points at a real file (thumbnails, reindex).
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../atomic-file.ts';
import { AppError } from '../errors.ts';
import type { Config } from '../config.ts';
import { ingestOne } from '../ingest/ingest-one.ts';
import type { Logger } from '../logger.ts';
import type { Embedder } from '../models/types.ts';
import { CaptionsRepository } from '../store/captions.repository.ts';
import type { Db } from '../store/db.ts';
import { ImagesRepository } from '../store/images.repository.ts';
import type { VectorBackend } from '../store/vector/types.ts';
import { commitThenIndex } from '../store/index-lifecycle.ts';
import { VectorsRepository } from '../store/vectors.repository.ts';
import type { IndexWriter } from './context.ts';
import { WriteGate } from './write-gate.ts';

export interface IndexWriterDeps {
  config: Readonly<Config>;
  db: Db;
  embedder: Embedder;
  indexes: VectorBackend;
  logger: Logger;
  /**
   * Orders this process's index updates (write-gate.ts); shared with the index follower, whose
   * updates must not interleave with a delete's. @default a gate of its own
   */
  gate?: WriteGate;
  /** Told after each commit that changed existing images (the engine's hydration cache forgets them). */
  onImagesChanged?: (ids: readonly number[]) => void;
}

/** Saves the upload under its hash; `created` when this call wrote it (nothing else uses it yet). */
async function keepUpload(
  dir: string,
  bytes: Buffer,
): Promise<{ file: string; sha256: string; created: boolean }> {
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
  return { file, sha256, created: !exists };
}

export function createIndexWriter(deps: IndexWriterDeps): IndexWriter {
  const { config, db, embedder, indexes, logger } = deps;
  const changed = (ids: readonly number[]) => deps.onImagesChanged?.(ids);
  const uploads = path.join(config.dataDir, 'uploads');
  const limits = { maxBytes: config.limits.maxImageBytes, maxPixels: config.limits.maxImagePixels };
  const gate = deps.gate ?? new WriteGate();

  /**
   * A failed add (undecodable bytes, a database error) must not leave its upload behind: removed
   * when this call wrote it and no image row holds those bytes (a concurrent add of the same bytes
   * that already committed keeps it). Best effort: the add's own error is what the client sees.
   */
  async function dropOrphan(upload: { file: string; sha256: string; created: boolean }): Promise<void> {
    if (!upload.created) return;
    try {
      const live = await new ImagesRepository(db).findIdsByHashes([upload.sha256]);
      if (!live.has(upload.sha256)) await rm(upload.file, { force: true });
    } catch (error) {
      logger.warn({ err: error, file: upload.file }, 'could not remove the upload of a failed add');
    }
  }

  return {
    async addImage({ bytes, captions, metadata, filename, options = {} }) {
      const { signal } = options;
      signal?.throwIfAborted();
      const upload = await keepUpload(uploads, bytes);
      const result = await ingestOne(
        {
          bytes,
          captions,
          metadata: filename ? { ...metadata, filename } : metadata,
          uri: pathToFileURL(upload.file).toString(),
        },
        { db, embedder, indexes, limits, logger },
        { aroundStore: (store) => gate.shared(store), ...options },
      ).catch(async (error: unknown) => {
        await dropOrphan(upload);
        throw error;
      });
      logger.info(
        { imageId: result.imageId, status: result.status, captions: result.captionIds.length },
        'image added through the API',
      );
      // A duplicate of a live or deleted image updated its row (uri, metadata, deleted_at).
      changed([result.imageId]);
      const addedCaptions = await new CaptionsRepository(db).getByIds(result.captionIds);
      return { status: result.status, imageId: result.imageId, addedCaptions };
    },

    async addCaptions(imageId, texts, { signal, beforeCommit } = {}) {
      signal?.throwIfAborted();
      // Embedding is the slow part: done before taking the gate, so a waiting delete is not held up.
      const { vectors } = await embedder.embedTexts(texts);
      signal?.throwIfAborted();
      return gate.shared(async () => {
        // The lifecycle adds the vectors to the index only once this transaction has committed.
        const added = await commitThenIndex(db, indexes, async (tx, changes) => {
          // Checked and written in one transaction, holding the image's row: a concurrent delete
          // either waits for these captions (and removes them) or has committed (NOT_FOUND).
          if (!(await new ImagesRepository(tx).lockLive(imageId)))
            throw new AppError('NOT_FOUND', `No image with id ${imageId}`);
          const captions = await new CaptionsRepository(tx).add(imageId, texts);
          const rows = captions.map((c, i) => ({ id: c.id, vector: vectors[i]! }));
          await new VectorsRepository(tx).upsert('caption', embedder.fingerprint, rows);
          changes.add('caption', rows);
          // Last things before COMMIT: a request that timed out meanwhile rolls back; an
          // Idempotency-Key is marked as committed with the captions.
          signal?.throwIfAborted();
          await beforeCommit?.(tx);
          return captions;
        });
        changed([imageId]);
        return added;
      });
    },

    deleteImage(id, { signal, beforeCommit } = {}) {
      return gate.exclusive(async () => {
        const deleted = await commitThenIndex(db, indexes, async (tx, changes) => {
          if (!(await new ImagesRepository(tx).softDelete(id))) return false;
          // A statement of its own, after the UPDATE won the row: it sees every caption committed
          // by writers that held the row before, so none stays live in the index.
          changes.remove('image', [id]);
          changes.remove('caption', await new CaptionsRepository(tx).idsOfImage(id));
          signal?.throwIfAborted();
          await beforeCommit?.(tx);
          return true;
        });
        if (deleted) changed([id]);
        return deleted;
      });
    },
  };
}
