import type http from 'node:http';
import { AppError } from '../../errors.ts';

/** The whole body as text, refused as soon as it passes `maxBytes` (declared or streamed). */
export async function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  const tooLarge = () => new AppError('LIMIT_EXCEEDED', `Request body is larger than ${maxBytes} bytes`);
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
