import { startThrowawayPostgres } from './throwaway-postgres.ts';
import type { TestProject } from 'vitest/node';

/**
 * Starts a throwaway PostgreSQL cluster for the whole test run (initdb in a temp dir, a free port,
 * stopped and removed afterwards), unless TEST_DATABASE_URL points at one already. Tests read the
 * URL with `inject('postgresUrl')`; an empty string comes with `inject('postgresSkipReason')`.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    postgresSkipReason: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('postgresUrl', given);
    project.provide('postgresSkipReason', '');
    return undefined;
  }
  const server = await startThrowawayPostgres({ maxConnections: 200 });
  if ('skipReason' in server) {
    const reason = `${server.skipReason}: install \`postgresql\` or set TEST_DATABASE_URL`;
    console.warn(`\n!!! ${reason}. Tests against a real PostgreSQL server are SKIPPED. !!!\n`);
    project.provide('postgresUrl', '');
    project.provide('postgresSkipReason', reason);
    return undefined;
  }
  project.provide('postgresUrl', server.url);
  project.provide('postgresSkipReason', '');
  console.log(`[test setup] PostgreSQL started at ${server.url}`);
  return () => server.destroy();
}
