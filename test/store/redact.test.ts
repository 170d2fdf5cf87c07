/**
 * DATABASE_URL appears in DB_UNAVAILABLE messages (logs, CLI output, API errors): every credential
 * form must be masked, not only `user:password@` (issue 13, item 17).
 */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { openPgDb, redact } from '../../src/store/pg-db.ts';

describe('redact', () => {
  it('masks the userinfo password and every secret query parameter, keeping the rest', () => {
    expect(
      redact(
        'postgres://alice:s3cret@db.example.org:5433/app?password=p1&sslpassword=p2&sslmode=require&application_name=x',
      ),
    ).toBe(
      'postgres://alice:***@db.example.org:5433/app?password=***&sslpassword=***&sslmode=require&application_name=x',
    );
    expect(redact('postgresql://db/app?user=bob&password=only-here')).toBe(
      'postgresql://db/app?user=bob&password=***',
    );
    expect(redact('postgres://db/app')).toBe('postgres://db/app');
    expect(redact('not a url')).toBe('<unparseable URL>');
  });

  it('a failed connection reports DB_UNAVAILABLE without any password from the URL', async () => {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    const url =
      'postgres://alice:userinfo-secret@127.0.0.1:1/app?password=query-secret&sslpassword=key-secret';
    const error = await openPgDb(url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DB_UNAVAILABLE');
    expect((error as AppError).message).toBe(
      'Cannot connect to DATABASE_URL (postgres://alice:***@127.0.0.1:1/app?password=***&sslpassword=***): ' +
        'connect ECONNREFUSED 127.0.0.1:1',
    );
  });
});
