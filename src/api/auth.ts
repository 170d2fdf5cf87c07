/**
 * Who may mutate. With an API key configured, mutations need `Authorization: Bearer <API_KEY>`.
 * Without one they are refused, unless the operator explicitly allowed unauthenticated mutations
 * (development, the demo).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Returns the check a request's context runs before any mutation. */
export function mutationGuard(auth: Config['auth'], authorization: string | undefined): () => void {
  return () => {
    if (auth.apiKey !== undefined) {
      const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
      // Compare digests: equal length, constant time, whatever the caller sent.
      if (!match || !timingSafeEqual(digest(match[1]!.trim()), digest(auth.apiKey))) {
        throw new AppError('UNAUTHENTICATED', 'Mutations need the header "Authorization: Bearer <API_KEY>"');
      }
      return;
    }
    if (!auth.allowUnauthenticatedMutations) {
      throw new AppError(
        'FORBIDDEN',
        'Mutations are disabled because no API key is configured: set API_KEY (then send ' +
          '"Authorization: Bearer <API_KEY>"), or for development only ALLOW_UNAUTHENTICATED_MUTATIONS=true',
      );
    }
  };
}
