// The urql client: queries and mutations over HTTP POST, subscriptions over a
// websocket (graphql-transport-ws protocol via graphql-ws), both on the
// page's own origin at /graphql (the dev/preview server proxies it to Tally).
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';

const httpUrl = '/graphql';
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;

export type WsStatus = 'connecting' | 'connected' | 'closed';
/** Told of every websocket state change; `reconnect` is true on every connection after the first. */
type WsListener = (status: WsStatus, reconnect: boolean) => void;
const wsListeners = new Set<WsListener>();
let connections = 0;
function notify(status: WsStatus): void {
  const reconnect = status === 'connected' ? connections++ > 0 : connections > 0;
  for (const listener of wsListeners) listener(status, reconnect);
}

export const wsClient = createWsClient({
  url: wsUrl,
  lazy: true,
  // Keep trying: a wallet left open should come back after a server restart.
  retryAttempts: Number.POSITIVE_INFINITY,
  shouldRetry: () => true,
  // Exponential backoff capped at 10 s, with jitter.
  retryWait: (retries) =>
    new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000) + Math.random() * 500)),
  on: {
    connecting: () => notify('connecting'),
    connected: () => notify('connected'),
    closed: () => notify('closed'),
  },
});

/** Run `listener` on every websocket state change; returns an unsubscribe function. */
export function onWsStatus(listener: WsListener): () => void {
  wsListeners.add(listener);
  return () => wsListeners.delete(listener);
}

export const client = new Client({
  url: httpUrl,
  // No cache exchange: a ledger view must never show a cached balance.
  requestPolicy: 'network-only',
  // Tally answers GraphQL on POST; GET /graphql is its GraphiQL page.
  preferGetMethod: false,
  fetchOptions: { headers: { accept: 'application/graphql-response+json, application/json' } },
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query ?? '' };
        return {
          subscribe(sink) {
            const unsubscribe = wsClient.subscribe(input, {
              next: (value) => sink.next(value as Parameters<typeof sink.next>[0]),
              complete: () => sink.complete(),
              // graphql-ws gives up with a CloseEvent (no message); name its code.
              error: (error) => sink.error(closeEventToError(error)),
            });
            return { unsubscribe };
          },
        };
      },
    }),
  ],
});

function closeEventToError(error: unknown): Error | readonly Error[] {
  if (error instanceof Error || Array.isArray(error)) return error;
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code, reason } = error as { code: number; reason?: string };
    return new Error(`websocket closed with code ${code}${reason ? `: ${reason}` : ''}`);
  }
  return new Error(String(error));
}
