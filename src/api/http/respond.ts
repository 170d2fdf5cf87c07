/** Writing answers: JSON bodies and the one error shape every route shares with GraphQL. */
import type http from 'node:http';
import { httpStatus, type HttpOnlyCode } from '../error-status.ts';
import type { ErrorCode } from '../../errors.ts';

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** `{ errors: [{ message, extensions: { code } }] }` with the code's status from the one table. */
export function sendError(res: http.ServerResponse, code: ErrorCode | HttpOnlyCode, message: string): void {
  // Too late for a status line (a stream broke off): cutting the connection is the only signal left.
  if (res.headersSent) return void res.destroy();
  sendJson(res, httpStatus(code), { errors: [{ message, extensions: { code } }] });
}
