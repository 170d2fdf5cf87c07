// What the page tells people: plain sentences for each way a search can fail, no raw codes.

export function megabytes(bytes) {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

function seconds(ms) {
  return `${Math.round(ms / 1000)} s`;
}

const FORMATS = 'PNG, JPEG, WebP, GIF, TIFF or AVIF';

/**
 * A sentence for an ApiError. `context` says what was sent: { kind: 'text' | 'image' | 'more',
 * file?, limits }. Messages the server already words for people (limits) are kept.
 */
export function explain(error, context) {
  const { limits, file } = context;
  switch (error.code) {
    case 'NETWORK':
      return 'Could not reach the server. Check the connection and try again.';
    case 'UPLOAD_TIMEOUT':
      return (
        `The upload did not finish within ${seconds(limits.requestTimeoutMs)}` +
        `${file ? ` (${megabytes(file.size)})` : ''}: the connection is too slow for this image. ` +
        'Try a smaller image or a faster connection.'
      );
    case 'TIMEOUT':
    case 'HTTP_408':
    case 'HTTP_503':
      return 'The server took too long to answer. Try again in a moment.';
    case 'INVALID_IMAGE':
      if (/empty/i.test(error.message)) return 'This file is empty (0 bytes). Choose an image file.';
      return `This file could not be read as an image. Choose a ${FORMATS} file.`;
    case 'LIMIT_EXCEEDED':
      if (/pixels/.test(error.message)) {
        const size = /(\d+)x(\d+)/.exec(error.message);
        return `This image is too large${size ? ` (${size[1]} × ${size[2]} pixels)` : ''}: the limit is ${limits.maxImagePixels.toLocaleString('en')} pixels. Use a smaller image.`;
      }
      if (context.kind !== 'text') {
        return `This image is too large: the limit is ${megabytes(limits.maxImageBytes)}. Use a smaller image.`;
      }
      return error.message;
    case 'NOT_FOUND':
      if (context.kind === 'more')
        return 'The server no longer has this image (it restarted, or an hour passed). Choose it again.';
      return error.message;
    default:
      return `Something went wrong (${error.code}). Try again; if it keeps failing, tell the operator.`;
  }
}

/** Checks a file before anything is sent: a sentence when it cannot be searched with, else null. */
export function checkFile(file, limits) {
  if (file.size === 0) return `${file.name} is empty (0 bytes). Choose an image file.`;
  if (file.type && !file.type.startsWith('image/')) {
    return `${file.name} is not an image (${file.type}). Choose a ${FORMATS} file.`;
  }
  if (file.size > limits.maxImageBytes) {
    return `${file.name} is ${megabytes(file.size)}; the largest image you can search with is ${megabytes(limits.maxImageBytes)}. Use a smaller image.`;
  }
  return null;
}

/** What an empty result says: that nothing was found, and what to try. */
export function nothingFound(kind, text) {
  if (kind === 'text') {
    return `Nothing found for “${text}”. Try fewer or other words, e.g. “a red circle”.`;
  }
  return 'No similar images found. Try another image, or search by text.';
}
