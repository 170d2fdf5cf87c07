import type http from 'node:http';
import { AppError } from '../../errors.ts';

/**
 * The whole body as text, refused as soon as it passes `maxBytes` (declared or streamed). Mostly
 * that is a query image too large, so the message says so in the units people choose files by.
 */
export async function readBody(
  req: http.IncomingMessage,
  maxBytes: number,
  maxImageBytes: number,
): Promise<string> {
  const tooLarge = () =>
    new AppError(
      'LIMIT_EXCEEDED',
      `The request is larger than ${maxBytes} bytes: a query image may be at most ${maxImageBytes} bytes`,
    );
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
