// Apollo Client 4 end-to-end proof against a running Tally server (Node.js,
// no browser). One ApolloClient: HttpLink for queries and mutations,
// GraphQLWsLink (graphql-ws over the `ws` package) for subscriptions, split
// on the operation type, and a normalized InMemoryCache.
//
//   TALLY_URL=http://127.0.0.1:8000 [TALLY_API_KEY=tally_…] node test.mjs
//
// Prints one line per step and exits 0, or prints the failure and exits 1.
import { randomUUID } from 'node:crypto';
import {
  ApolloClient,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  ServerError,
  ServerParseError,
  gql,
  split,
} from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

// Apollo's GraphQLWsLink tests socket errors against the global `WebSocket`,
// which Node 20 lacks (Node 22 has one): without this, a refused connection
// is a ReferenceError instead of an error on the subscription
// (apollographql/apollo-client#11761).
globalThis.WebSocket ??= WebSocket;

const OVERALL_TIMEOUT_MS = 60_000;
const SUBSCRIPTION_TIMEOUT_MS = 10_000;
// How long to listen for messages that must not come (after a refused or
// replayed transfer).
const QUIET_MS = 750;

const overall = setTimeout(() => {
  console.error(`not ok - the whole test took longer than ${OVERALL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

const base = (process.env.TALLY_URL ?? '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(base)) {
  console.error('not ok - set TALLY_URL to the server base URL, e.g. http://127.0.0.1:8000');
  process.exit(1);
}
const apiKey = process.env.TALLY_API_KEY || undefined;
const httpUrl = `${base}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws');

// ---------------------------------------------------------------- the client

// Counts the HTTP requests Apollo makes, to show a cache read costs none.
let httpRequests = 0;
const countingFetch = (input, init) => {
  httpRequests += 1;
  return fetch(input, init);
};

let wsConnected = 0;
const wsClient = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
  retryAttempts: 0,
  on: { connected: () => (wsConnected += 1) },
});

const link = split(
  ({ query }) => {
    const def = getMainDefinition(query);
    return def.kind === 'OperationDefinition' && def.operation === 'subscription';
  },
  new GraphQLWsLink(wsClient),
  new HttpLink({
    uri: httpUrl,
    fetch: countingFetch,
    headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
  }),
);

const client = new ApolloClient({
  link,
  cache: new InMemoryCache({
    typePolicies: {
      Account: { keyFields: ['id'] },
      Transfer: { keyFields: ['id'] },
    },
  }),
});

// ------------------------------------------------------------- the documents

const ACCOUNT_FIELDS = gql`
  fragment AccountFields on Account {
    id
    balance
    version
  }
`;

const CREATE_ACCOUNT = gql`
  mutation CreateAccount($code: String!) {
    createAccount(input: { code: $code, currency: "USD" }) {
      id
      code
      balance
      version
    }
  }
`;

const DEPOSIT = gql`
  mutation Deposit($accountId: UUID!, $amount: Decimal!, $key: String!) {
    deposit(input: { accountId: $accountId, amount: $amount, idempotencyKey: $key }) {
      id
      amount
      toAccount {
        ...AccountFields
      }
    }
  }
  ${ACCOUNT_FIELDS}
`;

const TRANSFER = gql`
  mutation Transfer($from: UUID!, $to: UUID!, $amount: Decimal!, $key: String!) {
    transfer(input: { fromAccountId: $from, toAccountId: $to, amount: $amount, idempotencyKey: $key }) {
      id
      fromAccount {
        ...AccountFields
      }
      toAccount {
        ...AccountFields
      }
    }
  }
  ${ACCOUNT_FIELDS}
`;

const ACCOUNT = gql`
  query Account($id: UUID!) {
    account(id: $id) {
      ...AccountFields
    }
  }
  ${ACCOUNT_FIELDS}
`;

const BALANCE_CHANGED = gql`
  subscription BalanceChanged($ids: [UUID!]!) {
    balanceChanged(accountIds: $ids) {
      ...AccountFields
    }
  }
  ${ACCOUNT_FIELDS}
`;

const ENTRY_POSTED = gql`
  subscription EntryPosted($accountId: UUID!) {
    entryPosted(accountId: $accountId) {
      cursor
      sequence
      amount
    }
  }
`;

// ------------------------------------------------------------------- helpers

let passed = 0;
let step = 0;
let current = 'setup';
// Names the step now running, for the failure line.
function begin(name) {
  current = name;
}
function ok(message) {
  step += 1;
  passed += 1;
  console.log(`ok ${step} - ${message}`);
}

class CheckFailed extends Error {}
function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}
function eq(actual, expected, what) {
  check(
    actual === expected,
    `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function mutate(mutation, variables) {
  const { data } = await client.mutate({ mutation, variables });
  return data;
}

// A running Apollo subscription that keeps every message and lets the test
// wait for the first one matching a predicate.
function watch(name, query, variables) {
  const messages = [];
  const waiters = [];
  let failure = null;
  const settle = () => {
    for (const w of [...waiters]) {
      if (failure) {
        w.reject(failure);
      } else {
        const hit = messages.find(w.predicate);
        if (hit === undefined) continue;
        w.resolve(hit);
      }
      clearTimeout(w.timer);
      waiters.splice(waiters.indexOf(w), 1);
    }
  };
  const fail = (error) => {
    failure ??= new CheckFailed(`subscription ${name} failed: ${describe(error)}`);
    settle();
  };
  const subscription = client.subscribe({ query, variables }).subscribe({
    next: (result) => {
      if (result.error) return fail(result.error);
      messages.push(result.data);
      settle();
    },
    error: fail,
    complete: () => fail(new Error('completed by the server')),
  });
  return {
    name,
    messages,
    until(predicate, what) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new CheckFailed(
              `subscription ${name}: no message with ${what} within ${SUBSCRIPTION_TIMEOUT_MS / 1000} s ` +
                `(received: ${JSON.stringify(messages)})`,
            ),
          );
        }, SUBSCRIPTION_TIMEOUT_MS);
        const w = { predicate, resolve, reject, timer };
        waiters.push(w);
        settle();
      });
    },
    check() {
      if (failure) throw failure;
    },
    stop() {
      subscription.unsubscribe();
    },
  };
}

// graphql-ws has no acknowledgement per subscription: once the socket is
// acknowledged, a query sent on the same socket after the subscriptions and
// a short pause give the server time to start them (an `entryPosted`
// without `after` sends only entries committed after it started).
async function subscriptionsStarted(secondId) {
  const deadline = Date.now() + SUBSCRIPTION_TIMEOUT_MS;
  while (wsConnected === 0) {
    check(Date.now() < deadline, 'the websocket was not acknowledged within 10 s');
    await sleep(20);
  }
  const result = await new Promise((resolve, reject) => {
    let value;
    wsClient.subscribe(
      { query: 'query Probe($id: UUID!) { account(id: $id) { id balance version } }', variables: { id: secondId } },
      { next: (v) => (value = v), error: reject, complete: () => resolve(value) },
    );
  });
  check(!result?.errors, `a query over the websocket failed: ${JSON.stringify(result?.errors)}`);
  await sleep(300);
  return result.data.account;
}

// With a key configured, the server must refuse a client without it: over
// HTTP as UNAUTHENTICATED (HTTP 401, still a GraphQL response, so Apollo
// reports CombinedGraphQLErrors), and on the websocket at connection_init
// (close code 4403).
async function keyIsRequired(accountId) {
  const bareHttp = new ApolloClient({ link: new HttpLink({ uri: httpUrl }), cache: new InMemoryCache() });
  let refused;
  try {
    await bareHttp.query({ query: gql`query Probe { __typename }`, fetchPolicy: 'network-only' });
  } catch (error) {
    refused = error;
  }
  bareHttp.stop();
  check(refused !== undefined, 'a query without the API key was answered');
  check(CombinedGraphQLErrors.is(refused), `a query without the key failed with ${describe(refused)}`);
  eq(refused.errors[0]?.extensions?.code, 'UNAUTHENTICATED', 'code of a query without the key');

  const bareSocket = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 });
  const bareWs = new ApolloClient({ link: new GraphQLWsLink(bareSocket), cache: new InMemoryCache() });
  const result = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ timedOut: true }), SUBSCRIPTION_TIMEOUT_MS);
    const sub = bareWs.subscribe({ query: ENTRY_POSTED, variables: { accountId } }).subscribe({
      next: (r) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(r);
      },
      error: (error) => {
        clearTimeout(timer);
        resolve({ error });
      },
    });
  });
  await bareSocket.dispose();
  bareWs.stop();
  check(!result.timedOut, 'a subscription without the API key got no answer within 10 s');
  check(
    result.error instanceof Error && /\b4403\b/.test(result.error.message),
    `a subscription without the key: expected the socket closed with 4403, got ${result.error ? describe(result.error) : JSON.stringify(result.data)}`,
  );
  return result.error.message;
}

function describe(error) {
  if (CombinedGraphQLErrors.is(error)) {
    return `CombinedGraphQLErrors ${JSON.stringify(error.errors)}`;
  }
  if (error && typeof error === 'object' && 'statusCode' in error) {
    return `${error.name} (HTTP ${error.statusCode}): ${error.message} ${error.bodyText ?? ''}`;
  }
  if (error instanceof Error) {
    const cause = error.cause ? ` (${error.cause.code ?? ''} ${error.cause.message ?? error.cause})` : '';
    return `${error.name}: ${error.message}${cause}`;
  }
  return JSON.stringify(error);
}

// ---------------------------------------------------------------------- test

async function main() {
  const suffix = randomUUID().slice(0, 8);
  const key = (what) => `apollo-${suffix}-${what}`;
  console.log(
    `# Apollo Client ${client.version} against ${httpUrl} (${apiKey ? 'with an API key' : 'no credential'})`,
  );

  // 1. two USD accounts
  begin('createAccount');
  const a = (await mutate(CREATE_ACCOUNT, { code: `apollo-a-${suffix}` })).createAccount;
  const b = (await mutate(CREATE_ACCOUNT, { code: `apollo-b-${suffix}` })).createAccount;
  for (const [acc, code] of [
    [a, `apollo-a-${suffix}`],
    [b, `apollo-b-${suffix}`],
  ]) {
    eq(acc.code, code, 'createAccount code');
    eq(acc.balance, '0.00', `createAccount ${code} balance`);
    eq(acc.__typename, 'Account', 'createAccount __typename');
  }
  check(a.id !== b.id, 'the two accounts have the same id');
  ok(`createAccount: ${a.code} (${a.id}) and ${b.code} (${b.id}), balance "0.00"`);

  // 2. deposit 100.00 to the first
  begin('deposit');
  const dep = (await mutate(DEPOSIT, { accountId: a.id, amount: '100.00', key: key('deposit') })).deposit;
  eq(dep.amount, '100.00', 'deposit amount');
  eq(dep.toAccount.id, a.id, 'deposit toAccount.id');
  eq(dep.toAccount.balance, '100.00', 'deposit toAccount.balance');
  // Read the first account once over the network: `account(id:)` is now in
  // the cache, pointing at the normalized Account object.
  const before = (await client.query({ query: ACCOUNT, variables: { id: a.id }, fetchPolicy: 'network-only' })).data
    .account;
  eq(before.balance, '100.00', 'account(first).balance after the deposit');
  ok(`deposit: "100.00" to ${a.code}, transfer ${dep.id}; account(id:) read back "100.00" (version ${before.version})`);

  if (apiKey) {
    begin('auth');
    const closed = await keyIsRequired(b.id);
    ok(`auth: without the key a query is UNAUTHENTICATED (CombinedGraphQLErrors) and the websocket "${closed}"`);
  }

  // 3. subscriptions on the second account
  begin('subscribe');
  const balances = watch('balanceChanged', BALANCE_CHANGED, { ids: [b.id] });
  const entries = watch('entryPosted', ENTRY_POSTED, { accountId: b.id });
  const probed = await subscriptionsStarted(b.id);
  eq(probed.balance, '0.00', 'account(second).balance read over the websocket');
  balances.check();
  entries.check();
  ok(`subscribed: balanceChanged(accountIds: [${b.code}]) and entryPosted(accountId: ${b.code}) over graphql-ws`);

  // 4. transfer 30.00 first -> second; both subscriptions deliver
  begin('transfer');
  const sent = Date.now();
  const tr = (await mutate(TRANSFER, { from: a.id, to: b.id, amount: '30.00', key: key('transfer') })).transfer;
  eq(tr.fromAccount.id, a.id, 'transfer fromAccount.id');
  eq(tr.toAccount.id, b.id, 'transfer toAccount.id');
  eq(tr.fromAccount.balance, '70.00', 'transfer fromAccount.balance');
  eq(tr.toAccount.balance, '30.00', 'transfer toAccount.balance');
  const [changed, entry] = await Promise.all([
    balances.until((m) => m.balanceChanged.balance === '30.00', 'balance "30.00"'),
    entries.until((m) => m.entryPosted.amount === '30.00', 'amount "30.00"'),
  ]);
  eq(changed.balanceChanged.id, b.id, 'balanceChanged id');
  eq(changed.balanceChanged.version, tr.toAccount.version, 'balanceChanged version vs. the transfer result');
  eq(entry.entryPosted.sequence, 1, 'entryPosted sequence (first entry of the second account)');
  check(typeof entry.entryPosted.cursor === 'string' && entry.entryPosted.cursor.length > 0, 'entryPosted cursor');
  eq(balances.messages.length, 1, 'balanceChanged messages for one transfer');
  eq(entries.messages.length, 1, 'entryPosted messages for one transfer');
  ok(
    `transfer: "30.00" ${a.code} -> ${b.code} (${tr.id}); balanceChanged "30.00" v${changed.balanceChanged.version} ` +
      `and entryPosted #${entry.entryPosted.sequence} "30.00" arrived within ${Date.now() - sent} ms`,
  );

  // 5. the normalized cache holds the mutation's result: no refetch
  begin('cache');
  const requestsBefore = httpRequests;
  const accountId = client.cache.identify({ __typename: 'Account', id: a.id });
  eq(accountId, `Account:{"id":"${a.id}"}`, 'cache id of the first account');
  const fragment = client.readFragment({ id: accountId, fragment: ACCOUNT_FIELDS, fragmentName: 'AccountFields' });
  eq(fragment?.balance, '70.00', 'readFragment(first).balance');
  eq(fragment?.version, tr.fromAccount.version, 'readFragment(first).version');
  // The query made in step 2 (100.00 then) now reads 70.00 from the cache:
  // the transfer's fromAccount was merged into the same normalized object.
  const cached = client.readQuery({ query: ACCOUNT, variables: { id: a.id } });
  eq(cached?.account?.balance, '70.00', 'readQuery(account(first)).balance');
  const cacheOnly = await client.query({ query: ACCOUNT, variables: { id: a.id }, fetchPolicy: 'cache-only' });
  eq(cacheOnly.data.account.balance, '70.00', 'query(account(first), cache-only).balance');
  // The subscription's message was normalized into the second account too.
  const second = client.readFragment({
    id: client.cache.identify({ __typename: 'Account', id: b.id }),
    fragment: ACCOUNT_FIELDS,
    fragmentName: 'AccountFields',
  });
  eq(second?.balance, '30.00', 'readFragment(second).balance');
  eq(httpRequests, requestsBefore, 'HTTP requests made by the cache reads');
  ok(
    `cache: readFragment(${accountId}) and the step-2 account(id:) query read "70.00" ` +
      `(was "100.00"), no HTTP request`,
  );

  // 6. an overdraft is a CombinedGraphQLErrors with INSUFFICIENT_FUNDS
  begin('overdraft');
  let refused;
  try {
    await mutate(TRANSFER, { from: a.id, to: b.id, amount: '1000.00', key: key('overdraft') });
  } catch (error) {
    refused = error;
  }
  check(refused !== undefined, 'the overdraft transfer succeeded');
  check(CombinedGraphQLErrors.is(refused), `the overdraft error is not CombinedGraphQLErrors: ${describe(refused)}`);
  eq(refused.errors[0]?.extensions?.code, 'INSUFFICIENT_FUNDS', 'overdraft errors[0].extensions.code');
  eq(
    client.readFragment({ id: accountId, fragment: ACCOUNT_FIELDS, fragmentName: 'AccountFields' })?.balance,
    '70.00',
    'cached first balance after the refused overdraft',
  );
  ok(`overdraft: "1000.00" refused, CombinedGraphQLErrors.is(error), code INSUFFICIENT_FUNDS ("${refused.errors[0].message}")`);

  // 7. the step-4 transfer again, same idempotency key: the same transfer
  begin('retry');
  const again = (await mutate(TRANSFER, { from: a.id, to: b.id, amount: '30.00', key: key('transfer') })).transfer;
  eq(again.id, tr.id, 'transfer id of the retry');
  eq(again.fromAccount.balance, '70.00', 'retry fromAccount.balance');
  eq(again.toAccount.balance, '30.00', 'retry toAccount.balance');
  for (const [acc, balance, version] of [
    [a, '70.00', tr.fromAccount.version],
    [b, '30.00', tr.toAccount.version],
  ]) {
    const fresh = (await client.query({ query: ACCOUNT, variables: { id: acc.id }, fetchPolicy: 'network-only' })).data
      .account;
    eq(fresh.balance, balance, `${acc.code} balance read back after the retry`);
    eq(fresh.version, version, `${acc.code} version read back after the retry`);
  }
  await sleep(QUIET_MS);
  balances.check();
  entries.check();
  eq(balances.messages.length, 1, 'balanceChanged messages after the overdraft and the retry');
  eq(entries.messages.length, 1, 'entryPosted messages after the overdraft and the retry');
  ok(`retry: same idempotency key returned transfer ${again.id}; balances "70.00"/"30.00" and versions unchanged, no new messages`);

  // 8. close everything so the process can exit by itself
  begin('close');
  balances.stop();
  entries.stop();
  await wsClient.dispose();
  client.stop();
  ok('closed the subscriptions and the websocket client');
}

main().then(
  () => {
    clearTimeout(overall);
    console.log(`apollo: ${passed} passed, 0 failed`);
    // Everything is closed: the process must now end on its own.
    setTimeout(() => {
      console.error('not ok - the process did not exit after closing the clients (open handles)');
      process.exit(1);
    }, 5_000).unref();
  },
  (error) => {
    clearTimeout(overall);
    console.log(`not ok ${step + 1} - ${current}: ${error instanceof CheckFailed ? error.message : describe(error)}`);
    // A stack only for what is neither a failed check nor an Apollo error.
    const apolloError = CombinedGraphQLErrors.is(error) || ServerError.is(error) || ServerParseError.is(error);
    if (!(error instanceof CheckFailed) && !apolloError && error?.stack) console.error(error.stack);
    console.log(`apollo: ${passed} passed, 1 failed`);
    process.exit(1);
  },
);
