import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured logs go to stderr so CLI output on stdout (tables, JSON) stays clean. */
export function createLogger(level = 'info', name = 'crossmodal'): Logger {
  return pino({ name, level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}

/** For tests and library callers that want no output. */
export const silentLogger: Logger = pino({ level: 'silent' });
