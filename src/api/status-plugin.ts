/**
 * Gives a GraphQL answer the HTTP status of an error that failed the whole request (a database
 * outage is 503, as /readyz says), so retries and failover work; Apollo would answer 200, the
 * status of any request that reached execution. The statuses come from the one table.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { graphqlStatus } from './error-status.ts';

export function errorStatusPlugin<T extends object>(): ApolloServerPlugin<T> {
  return {
    requestDidStart: async () => ({
      willSendResponse: async ({ response }) => {
        if (response.body.kind !== 'single') return;
        for (const error of response.body.singleResult.errors ?? []) {
          const status = graphqlStatus(String(error.extensions?.code));
          if (status !== undefined) {
            response.http.status = status;
            return;
          }
        }
      },
    }),
  };
}
