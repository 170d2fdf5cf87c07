/**
 * The one error handler of the plain routes and the HTTP side of /graphql: an AppError answers its
 * code with the status from the one table; anything else is an internal error, logged with its
 * detail and answered with a generic message.
 */
import type http from 'node:http';
import { isAppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { sendError } from './respond.ts';

export function handleError(error: unknown, res: http.ServerResponse, logger: Logger, path: string): void {
  const clientLeft = isAppError(error, 'CANCELLED') || (!isAppError(error) && res.req.destroyed);
  if (clientLeft) {
    // The client left (aborted an upload, closed the tab): not a server fault, and nobody is listening.
    res.destroy();
    if (res.req.complete) return logger.info({ url: path }, 'client left before the answer');
    return logger.warn({ url: path }, 'client closed the request before it was read');
  }
  if (isAppError(error)) return sendError(res, error.code, error.message);
  logger.error({ err: error, url: path }, 'unhandled error serving a request');
  sendError(res, 'INTERNAL_SERVER_ERROR', 'Internal server error');
}
