/**
 * The pgvector start-up check: a missing extension or one older than 0.8 (no iterative index
 * scans) is refused with VECTOR_BACKEND_UNAVAILABLE and a message that names the fix. The real
 * cases run elsewhere (PGlite's 0.8.7 passes in the contract suite; the PostgreSQL server without
 * pgvector is refused in test/api/pgvector.test.ts); old versions exist on no database here, so a
 * strict fake of the three catalogue queries stands in.
 */
import { describe, expect, it } from 'vitest';
import { ensureExtension, olderThan } from '../../src/store/vector/pgvector-backend.ts';

function catalogue(installed: string | undefined, available: string | undefined) {
  const created: string[] = [];
  return {
    created,
    repo: {
      installedVersion: () => Promise.resolve(created.length > 0 ? available : installed),
      availableVersion: () => Promise.resolve(available),
      createExtension: () => {
        created.push('vector');
        return Promise.resolve();
      },
    },
  };
}

describe('pgvector start-up check', () => {
  it('compares versions part by part', () => {
    expect(olderThan('0.7.4', '0.8.0')).toBe(true);
    expect(olderThan('0.8.0', '0.8.0')).toBe(false);
    expect(olderThan('0.8.7', '0.8.0')).toBe(false);
    expect(olderThan('0.10.0', '0.8.0')).toBe(false);
    expect(olderThan('1.0', '0.8.0')).toBe(false);
  });

  it('accepts an installed 0.8 and creates an available one', async () => {
    expect(await ensureExtension(catalogue('0.8.7', '0.8.7').repo)).toBe('0.8.7');
    const fresh = catalogue(undefined, '0.8.1');
    expect(await ensureExtension(fresh.repo)).toBe('0.8.1');
    expect(fresh.created).toEqual(['vector']);
  });

  it('refuses a server without pgvector, naming the package and the other backend', async () => {
    await expect(ensureExtension(catalogue(undefined, undefined).repo)).rejects.toMatchObject({
      code: 'VECTOR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(
        /no pgvector extension: install pgvector >= 0\.8\.0.*VECTOR_BACKEND=hnsw/,
      ),
    });
  });

  it('refuses an installed 0.7, naming ALTER EXTENSION vector UPDATE', async () => {
    await expect(ensureExtension(catalogue('0.7.4', '0.7.4').repo)).rejects.toMatchObject({
      code: 'VECTOR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/has 0\.7\.4: .*ALTER EXTENSION vector UPDATE/),
    });
  });

  it('refuses to create an extension older than 0.8, and creates nothing', async () => {
    const old = catalogue(undefined, '0.7.0');
    await expect(ensureExtension(old.repo)).rejects.toMatchObject({
      code: 'VECTOR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/offers 0\.7\.0/),
    });
    expect(old.created).toEqual([]);
  });
});
