/**
 * `Image.uri` as anonymous clients see it. The stored uri of a server file is absolute
 * (`file:///srv/.../uploads/<sha256>`), which tells strangers the server's layout and user names;
 * only the operator needs it, through `Image.sourcePath`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A server file's base name; anything else (remote URLs, `upload:<sha>`) as stored. */
export function publicUri(uri: string): string {
  if (uri.startsWith('file:')) {
    try {
      return path.basename(fileURLToPath(uri));
    } catch {
      // A malformed file URL (a foreign host): its last segment, never the rest of the path.
      return uri.slice(uri.lastIndexOf('/') + 1);
    }
  }
  if (path.isAbsolute(uri)) return path.basename(uri);
  // A manifest written on Windows may hold `C:\\images\\x.png`, which POSIX does not split.
  if (path.win32.isAbsolute(uri)) return path.win32.basename(uri);
  return uri;
}

/** Whether this request may see server internals: the same right as mutating (the API key). */
export function isOperator(requireMutationAccess: () => void): boolean {
  try {
    requireMutationAccess();
    return true;
  } catch {
    return false;
  }
}
