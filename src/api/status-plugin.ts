/**
 * HTTP status from our error codes, for the codes a client or a load balancer must see without
 * reading the body: an outage of the database is 503 (as /readyz says), so retries and failover
 * work; Apollo would answer 200, the status of any request that reached execution.
 */
import type { ApolloServerPlugin } from '@apollo/server';

const STATUS_BY_CODE: Readonly<Record<string, number>> = { DB_UNAVAILABLE: 503 };

export function errorStatusPlugin<T extends object>(): ApolloServerPlugin<T> {
  return {
    requestDidStart: async () => ({
      willSendResponse: async ({ response }) => {
        if (response.body.kind !== 'single') return;
        for (const error of response.body.singleResult.errors ?? []) {
          const status = STATUS_BY_CODE[String(error.extensions?.code)];
          if (status !== undefined) {
            response.http.status = status;
            return;
          }
        }
      },
    }),
  };
}
