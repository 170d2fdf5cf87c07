/**
 * Thin resolvers: validate and translate arguments, call the engine or the writer. Typed against
 * schema.graphql through the generated `Resolvers` type.
 */
import { AppError } from '../errors.ts';
import type { CaptionNode, ImageNode } from '../search/types.ts';
import type { ApiContext, WriteOptions } from './context.ts';
import type { Resolvers } from './generated/resolvers.ts';
import { parseId, toFilter, toImageInput, toQuery, toSearchOptions } from './inputs.ts';
import { DateTimeScalar, JsonScalar } from './scalars.ts';
import { checkCaptions, checkNoNul } from './text-input.ts';
import { isOperator, publicUri } from './image-uri.ts';
import { decodeBase64Image } from '../search/encode-query.ts';

function isCaption(node: ImageNode | CaptionNode): node is CaptionNode {
  return 'text' in node && 'imageId' in node;
}

export const resolvers: Resolvers = {
  JSON: JsonScalar,
  DateTime: DateTimeScalar,

  Query: {
    searchImages: (_p, args, ctx) => ctx.engine.searchImages(args.text, toSearchOptions(args, ctx.signal)),
    searchCaptions: (_p, args, ctx) =>
      ctx.engine.searchCaptions(toImageInput(args.image), toSearchOptions(args, ctx.signal)),
    similarImages: (_p, args, ctx) =>
      ctx.engine.similarImages(toImageInput(args.image), toSearchOptions(args, ctx.signal)),
    search: (_p, args, ctx) =>
      ctx.engine.search({
        ...toSearchOptions(args, ctx.signal),
        target: args.target === 'CAPTIONS' ? 'caption' : 'image',
        query: toQuery(args.query),
      }),
    image: async (_p, args, ctx) => (await ctx.engine.getImage(parseId(args.id))) ?? null,
    images: (_p, args, ctx) => ctx.engine.listImages(toFilter(args.filter), args.first, args.after),
    indexInfo: (_p, _a, ctx) => ctx.engine.indexInfo(),
    queryImageToken: (_p, args, ctx) => ctx.engine.imageToken(toImageInput(args.image)),
    classify: (_p, args, ctx) =>
      requireClassifier(ctx.engine.classifier).classify({
        image: toImageInput(args.image),
        text: args.text ?? null,
        task: args.task ?? null,
        labels: args.labels ?? null,
      }),
    matchScore: (_p, args, ctx) =>
      requireClassifier(ctx.engine.classifier).matchScore(toImageInput(args.image), args.texts),
  },

  Mutation: {
    addImage: async (_p, { input }, ctx) => {
      ctx.requireMutationAccess();
      const writer = requireWriter(ctx.writer);
      const captions = checkCaptions(input.captions ?? [], {
        min: 0,
        maxLength: ctx.engine.limits.maxQueryText,
      });
      const metadata = input.metadata ?? {};
      if (typeof metadata !== 'object' || Array.isArray(metadata) || metadata === null) {
        throw new AppError('INVALID_INPUT', 'metadata must be a JSON object');
      }
      if (input.filename) checkNoNul(input.filename, 'filename');
      const bytes = decodeBase64Image(input.base64, ctx.engine.limits.maxImageBytes);
      const result = await writer.addImage({
        bytes,
        captions,
        metadata: metadata as Record<string, unknown>,
        ...(input.filename ? { filename: input.filename } : {}),
        options: writeOptions(ctx),
      });
      const image = await ctx.engine.getImage(result.imageId);
      if (!image) throw new AppError('NOT_FOUND', `Image ${result.imageId} vanished while being added`);
      return {
        status: result.status === 'indexed' ? 'INDEXED' : 'DUPLICATE',
        image,
        addedCaptions: result.addedCaptions,
      };
    },
    addCaptions: async (_p, args, ctx) => {
      ctx.requireMutationAccess();
      const writer = requireWriter(ctx.writer);
      const imageId = parseId(args.imageId, 'imageId');
      const texts = checkCaptions(args.captions, { min: 1, maxLength: ctx.engine.limits.maxQueryText });
      // The writer checks that the image exists in the transaction that stores the captions.
      return writer.addCaptions(imageId, texts, writeOptions(ctx));
    },
    deleteImage: async (_p, args, ctx) => {
      ctx.requireMutationAccess();
      const writer = requireWriter(ctx.writer);
      const id = parseId(args.id);
      return { id: String(id), deleted: await writer.deleteImage(id, writeOptions(ctx)) };
    },
  },

  Image: {
    captions: (image, _a, ctx) => image.captions ?? ctx.loadCaptions(image.id),
    uri: (image) => publicUri(image.uri),
    sourcePath: (image, _a, ctx) => (isOperator(ctx.requireMutationAccess) ? image.uri : null),
    thumbnailUrl: (image, _a, ctx) => `${ctx.baseUrl}/media/${image.id}/thumbnail`,
  },

  Caption: {
    image: async (caption, _a, ctx) => {
      if (caption.image) return caption.image;
      // Batched: a page of captions needs one query for all their images, not one each.
      const image = await ctx.loadImage(caption.imageId);
      if (!image)
        throw new AppError('NOT_FOUND', `Image ${caption.imageId} of caption ${caption.id} is gone`);
      return image;
    },
  },

  SearchResult: {
    __resolveType: (node) => (isCaption(node) ? 'Caption' : 'Image'),
  },
};

function requireClassifier<T>(classifier: T | undefined): T {
  if (!classifier) throw new AppError('MODEL_MISSING', 'This server was started without classifiers');
  return classifier;
}

/** The request's abort signal and, for a keyed mutation, the Idempotency-Key's commit mark. */
function writeOptions(ctx: ApiContext): WriteOptions {
  return { signal: ctx.signal, ...(ctx.beforeCommit ? { beforeCommit: ctx.beforeCommit } : {}) };
}

function requireWriter<T>(writer: T | undefined): T {
  if (!writer)
    throw new AppError('FORBIDDEN', 'This server was started read-only: mutations are unavailable');
  return writer;
}
