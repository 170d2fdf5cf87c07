/**
 * Failures of the machine rather than of the program: a full disk, a read-only or misplaced path, a
 * port someone else holds. They reach us as Node's `code` strings (`ENOSPC`) or, from the embedded
 * database's WASM file system, as Emscripten `ErrnoError`s carrying a WASI errno number. Either way
 * the operator needs one line that names the fix, not a stack.
 */
import { AppError } from './errors.ts';

/** WASI errno numbers (what Emscripten, and so PGlite, reports) for the codes we explain. */
const WASI_ERRNO: Readonly<Record<number, string>> = {
  2: 'EACCES',
  19: 'EDQUOT',
  20: 'EEXIST',
  51: 'ENOSPC',
  54: 'ENOTDIR',
  63: 'EPERM',
  69: 'EROFS',
};

export interface OsFailure {
  /** `ENOSPC`, `EROFS`, `EADDRINUSE`, ... */
  code: string;
  /** The file the system call was about, when it says. */
  path: string | undefined;
}

/** The first system-call failure in `error` or its chain of causes. */
export function findOsFailure(error: unknown): OsFailure | undefined {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const { code, errno, name, path } = e as {
      code?: unknown;
      errno?: unknown;
      name?: unknown;
      path?: unknown;
    };
    const p = typeof path === 'string' ? path : undefined;
    if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code)) return { code, path: p };
    if (name === 'ErrnoError' && typeof errno === 'number' && WASI_ERRNO[errno])
      return { code: WASI_ERRNO[errno], path: p };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A storage failure as a one-line AppError naming the fix, or undefined when `error` is not one.
 * `where` names what was being written, e.g. `DATA_DIR /srv/data`; without it, the failing path.
 */
export function explainStorageError(error: unknown, where?: string): AppError | undefined {
  if (error instanceof AppError) return undefined;
  const failure = findOsFailure(error);
  if (!failure) return undefined;
  const at = where ?? failure.path;
  const code = failure.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new AppError(
        'DISK_FULL',
        `No space left on the disk${at === undefined ? '' : ` for ${at}`} [${code}]: free some space, ` +
          'or set DATA_DIR (--data-dir) to a disk with room, then run the command again',
        { cause: error },
      );
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return new AppError(
        'PATH_UNUSABLE',
        `Cannot write ${at ?? 'a file'} [${code}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}]: ` +
          'make it writable for this user, or set DATA_DIR (--data-dir) to a writable directory',
        { cause: error },
      );
    case 'ENOTDIR':
    case 'EEXIST':
      return new AppError(
        'PATH_UNUSABLE',
        `${at ?? 'A path'}: a file stands where a directory is needed [${code}]: move it, ` +
          'or set DATA_DIR (--data-dir) to a directory',
        { cause: error },
      );
    case 'ENOENT':
      // Only with `where`: elsewhere a missing file is the caller's to explain (a source, a model).
      return where === undefined
        ? undefined
        : new AppError(
            'PATH_UNUSABLE',
            `Cannot create ${where} [${code}]: a folder above it is missing or read-only; create it, ` +
              'or set DATA_DIR (--data-dir) to a writable directory',
            { cause: error },
          );
    default:
      return undefined;
  }
}

/** Why the HTTP server could not listen on host:port, with the setting to change. */
export function explainListenError(error: unknown, host: string, port: number): AppError | undefined {
  const failure = findOsFailure(error);
  switch (failure?.code) {
    case 'EADDRINUSE':
      return new AppError(
        'ADDRESS_UNAVAILABLE',
        `Port ${port} on ${host} is already in use (another server, or this one still running): stop it, or set PORT (--port) to a free port (0 picks any)`,
        { cause: error },
      );
    case 'EACCES':
      return new AppError(
        'ADDRESS_UNAVAILABLE',
        `Not allowed to listen on port ${port} (ports below 1024 need privileges): set PORT (--port) to 1024 or above`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
      return new AppError(
        'ADDRESS_UNAVAILABLE',
        `HOST ${host} is not an address of this machine: set HOST (--host) to one of its addresses (127.0.0.1, or 0.0.0.0 for all)`,
        { cause: error },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new AppError(
        'ADDRESS_UNAVAILABLE',
        `HOST ${host} does not resolve to an address: set HOST (--host) to an address of this machine (127.0.0.1, or 0.0.0.0 for all)`,
        { cause: error },
      );
    default:
      return undefined;
  }
}
