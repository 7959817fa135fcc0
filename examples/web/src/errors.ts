// Turns urql's CombinedError into what the page shows: CODE: message.
import type { CombinedError } from '@urql/core';

export interface UiError {
  code: string;
  message: string;
  /**
   * The server answered with a refusal, so the request moved no money and
   * its outcome is known. False for network errors and INTERNAL, where the
   * transfer may or may not have happened: a retry must reuse the key.
   */
  definite: boolean;
}

export function describeError(error: CombinedError): UiError {
  const first = error.graphQLErrors[0];
  if (first) {
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'GRAPHQL_ERROR';
    return { code, message: first.message, definite: code !== 'INTERNAL' && code !== 'GRAPHQL_ERROR' };
  }
  const message = error.networkError?.message ?? error.message;
  return { code: 'NETWORK_ERROR', message, definite: false };
}
