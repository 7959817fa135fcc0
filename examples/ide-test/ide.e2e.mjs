// Browser test of Tally's two in-browser IDEs against a running server, in
// headless Chromium driven by playwright-core (no test runner, no browser
// download): GraphiQL (GET /graphql) and GraphQL Playground (GET /playground),
// each with an API key typed into its headers editor, running a query and a
// subscription that receives a deposit posted meanwhile. Every request to a
// host other than 127.0.0.1 is blocked and counted as a failure: the server
// must serve the IDEs' files itself (`tally serve --ide-assets DIR`).
//
//   TALLY_URL=http://127.0.0.1:8000   the server: the pages and Node's own requests
//   API_KEY=tally_…                   an admin (or write) API key
//   ACCOUNT_ID=…  ACCOUNT_CODE=…      an existing USD account
//   PAGE_URL=…                        optional: where the pages are opened (default TALLY_URL)
//   CHROMIUM=/usr/bin/chromium        optional
//   RESULTS_DIR=test-results          optional: screenshots go there
//   E2E_TIMEOUT_MS=15000              optional: the limit of each wait
//
// Prints what each IDE sent over its websocket (the key replaced by <KEY>).
// Every step runs even when an earlier non-fatal one failed. Exits 1 on any failure.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const TALLY_URL = required('TALLY_URL').replace(/\/$/, '');
const PAGE_URL = (process.env.PAGE_URL || TALLY_URL).replace(/\/$/, '');
const API_KEY = required('API_KEY');
const ACCOUNT_ID = required('ACCOUNT_ID');
const ACCOUNT_CODE = required('ACCOUNT_CODE');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RESULTS_DIR = resolve(process.env.RESULTS_DIR || join(here, 'test-results'));
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 15_000);
const HEADERS_JSON = JSON.stringify({ Authorization: `Bearer ${API_KEY}` });
const LOCAL_HOST = '127.0.0.1';
const run = `${Date.now().toString(36)}-${process.pid}`;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the top of ${fileURLToPath(import.meta.url)})`);
    process.exit(2);
  }
  return value;
}

const redact = (text) => String(text).split(API_KEY).join('<KEY>');

// ---- GraphQL straight to the server ------------------------------------------

async function gql(query, variables = {}) {
  const response = await fetch(`${TALLY_URL}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(TIMEOUT),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${TALLY_URL}/graphql answered HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new Error(`GraphQL error ${first.extensions?.code ?? '?'}: ${first.message}`);
  }
  return body.data;
}

let deposits = 0;
async function deposit(amount) {
  const key = `ide-e2e-${run}-${++deposits}`;
  const data = await gql(
    `mutation ($input: DepositInput!) { deposit(input: $input) { id entries { accountId sequence amount } } }`,
    { input: { accountId: ACCOUNT_ID, amount, idempotencyKey: key, description: 'IDE browser test' } },
  );
  return data.deposit.entries.find((e) => e.accountId === ACCOUNT_ID);
}

// ---- steps -------------------------------------------------------------------

const results = [];
let shots = 0;
let page;

class Fatal extends Error {}

async function step(name, fn, { fatal = false } = {}) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false, error });
    console.log(`FAIL  ${name} (${Date.now() - started} ms)\n      ${redact(error?.message ?? error).replace(/\n/g, '\n      ')}`);
    if (page) await screenshot(`FAILED-${slug(name)}`).catch(() => {});
    if (fatal) throw new Fatal(name);
  }
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 50);
}

async function screenshot(name) {
  const file = join(RESULTS_DIR, `${String(++shots).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
}

/** Polls `probe` (→ { ok, value }) until ok, or throws after TIMEOUT with the last value. */
async function waitFor(what, probe, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last.ok) return last.value;
    } catch (error) {
      last = { value: `(probe threw: ${error.message})` };
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${redact(JSON.stringify(last?.value)).slice(0, 600)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- editors -----------------------------------------------------------------

/** Sets the value of the index-th CodeMirror 5 editor under `scope` (a CSS selector). */
async function setEditor(scope, index, value) {
  await page.evaluate(
    ({ scope, index, value }) => {
      const editors = document.querySelectorAll(`${scope} .CodeMirror`);
      const el = editors[index];
      if (!el || !el.CodeMirror) throw new Error(`no CodeMirror #${index} under ${scope} (found ${editors.length})`);
      el.CodeMirror.setValue(value);
    },
    { scope, index, value },
  );
  // Both IDEs derive the operation (its name, whether it is a subscription)
  // from the editor a moment after a change, as after typing.
  await new Promise((r) => setTimeout(r, 600));
}

/** The values of the CodeMirror editors matching `selector`. */
async function editorValues(selector) {
  return page.evaluate((selector) => [...document.querySelectorAll(selector)].map((el) => el.CodeMirror?.getValue() ?? ''), selector);
}

// ---- what the browser asks for -----------------------------------------------

const external = [];
const requests = [];
const pageErrors = [];
let sockets = [];

/** A websocket the page opened, with every frame it sent and received. */
function recordSocket(ws) {
  const record = { url: ws.url(), sent: [], received: [], closed: false };
  sockets.push(record);
  if (new URL(ws.url()).hostname !== LOCAL_HOST) external.push(`websocket ${ws.url()}`);
  ws.on('framesent', (f) => record.sent.push(String(f.payload)));
  ws.on('framereceived', (f) => record.received.push(String(f.payload)));
  ws.on('close', () => (record.closed = true));
}

function messages(frames) {
  return frames.map((f) => {
    try {
      return JSON.parse(f);
    } catch {
      return { unparsed: f };
    }
  });
}

function printSockets(ide) {
  for (const s of sockets) {
    console.log(`      ${ide} websocket ${s.url}`);
    for (const f of s.sent) console.log(`        > ${redact(f)}`);
    for (const f of s.received.slice(0, 6)) console.log(`        < ${redact(f).slice(0, 200)}`);
    if (s.received.length > 6) console.log(`        < … ${s.received.length - 6} more`);
  }
}

/** Every <script src> and <link href> of the page carries integrity and crossorigin. */
async function checkSri() {
  const tags = await page.evaluate(() =>
    [...document.querySelectorAll('script[src], link[href]')].map((el) => ({
      tag: el.tagName.toLowerCase(),
      url: el.getAttribute('src') ?? el.getAttribute('href'),
      integrity: el.getAttribute('integrity'),
      crossorigin: el.getAttribute('crossorigin'),
    })),
  );
  assert.ok(tags.length > 0, 'no <script src> or <link href> in the page');
  for (const t of tags) {
    assert.match(t.integrity ?? '', /^sha384-[A-Za-z0-9+/]{64}$/, `${t.tag} ${t.url} has no sha384 integrity`);
    assert.equal(t.crossorigin, 'anonymous', `${t.tag} ${t.url} lacks crossorigin="anonymous"`);
    assert.match(t.url, /^\/ide-assets\/[^/]+@\d[^/]*\//, `${t.tag} ${t.url} is not served by the server's --ide-assets`);
  }
  return tags.length;
}

/**
 * Starts the subscription (run()), posts a deposit of 5.00 from Node once the
 * socket sent its subscribe/start message, and waits until `shown()` contains
 * the entry. entryPosted without `after` sends only entries committed after
 * the server set the subscription up, which no protocol message confirms:
 * if the first deposit commits before that, a second one is posted.
 */
async function subscribeAndDeposit(run, startType, shown) {
  await run();
  await waitFor(`the page to send a websocket "${startType}" message`, async () => {
    const sent = sockets.flatMap((s) => messages(s.sent));
    return { ok: sent.some((m) => m.type === startType), value: sent };
  });
  await new Promise((r) => setTimeout(r, 500));
  let entry;
  for (let attempt = 1; ; attempt++) {
    entry = await deposit('5.00');
    try {
      await waitFor(`entry #${entry.sequence} (amount 5.00) in the results pane`, async () => {
        const text = await shown();
        const ok = text.includes('"entryPosted"') && text.includes('"amount": "5.00"') && text.includes(`"sequence": ${entry.sequence}`);
        return { ok, value: text };
      }, attempt < 3 ? 5_000 : TIMEOUT);
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
      console.log(`      (deposit #${entry.sequence} not shown within 5 s: posting another)`);
    }
  }
  return entry;
}

// ---- the test ----------------------------------------------------------------

async function main() {
  mkdirSync(RESULTS_DIR, { recursive: true });
  // this test's screenshots of an earlier run
  for (const name of readdirSync(RESULTS_DIR)) if (/^\d\d-[a-z0-9-]+\.png$/i.test(name)) rmSync(join(RESULTS_DIR, name));
  console.log(`IDE test against ${TALLY_URL} (pages from ${PAGE_URL}); screenshots in ${RESULTS_DIR}`);

  await step('the account exists (direct GraphQL with the key)', async () => {
    const data = await gql(`query ($code: String!) { accountByCode(code: $code) { id currency } }`, { code: ACCOUNT_CODE });
    assert.equal(data.accountByCode?.id, ACCOUNT_ID);
  }, { fatal: true });

  const profile = mkdtempSync(join(tmpdir(), 'tally-ide-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  try {
    // Everything not on 127.0.0.1 fails, and is remembered.
    await context.route(
      (url) => url.hostname !== LOCAL_HOST,
      (route) => {
        external.push(`${route.request().method()} ${route.request().url()}`);
        return route.abort('blockedbyclient');
      },
    );
    context.on('request', (r) => {
      requests.push(r);
      const url = new URL(r.url());
      if (/^(https?|wss?):$/.test(url.protocol) && url.hostname !== LOCAL_HOST && !external.includes(`${r.method()} ${r.url()}`)) {
        external.push(`${r.method()} ${r.url()}`);
      }
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') console.log(`      [page console.${msg.type()}] ${redact(msg.text()).slice(0, 300)}`);
    });
    page.on('websocket', recordSocket);

    await graphiql();
    sockets = [];
    await playground();

    await step('once the pages are left, the key is nowhere in localStorage', async () => {
      await page.goto(`${PAGE_URL}/readyz`); // same origin, so the same localStorage
      const stored = await page.evaluate(() => Object.entries(localStorage));
      const leaked = stored.filter(([, value]) => value.includes('Bearer') || value.includes('tally_')).map(([name]) => name);
      assert.deepEqual(leaked, [], `the key is kept in localStorage under ${leaked.join(', ')}`);
      console.log(`      localStorage: ${stored.map(([name]) => name).join(', ') || '(empty)'}`);
    });
  } catch (error) {
    if (!(error instanceof Fatal)) {
      results.push({ name: 'unexpected error', ok: false, error });
      console.log(`FAIL  unexpected error: ${redact(error?.stack ?? error)}`);
    }
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }

  await step('no request left 127.0.0.1', async () => {
    assert.ok(requests.length > 0, 'the browser made no request at all');
    assert.deepEqual(external, [], `requests to other hosts were attempted:\n${external.join('\n')}`);
  });
  await step('no uncaught page error', async () => {
    assert.deepEqual(pageErrors, []);
  });

  const failed = results.filter((r) => !r.ok);
  console.log(`\n${results.length - failed.length} passed, ${failed.length} failed`);
  if (failed.length) {
    for (const f of failed) console.log(`  - ${f.name}`);
    process.exitCode = 1;
  }
}

// ---- GraphiQL ----------------------------------------------------------------

async function graphiql() {
  const Q = '.graphiql-container';
  const responseText = async () => (await editorValues('.graphiql-response .CodeMirror')).join('\n');

  await step('GraphiQL: GET /graphql renders GraphiQL from the local assets, SRI on every file', async () => {
    const response = await page.goto(`${PAGE_URL}/graphql`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'] ?? '', /text\/html/);
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
    await page.locator('section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror').waitFor();
    console.log(`      ${await checkSri()} pinned files, each with sha384 integrity`);
    await screenshot('graphiql-loaded');
  }, { fatal: true });

  await step('GraphiQL: the key in the Headers editor; a query returns the account', async () => {
    await setEditor(`${Q} section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)`, 0, HEADERS_JSON);
    // the page refetches the schema with the new Authorization header
    await waitFor('the schema fetched with the key', async () => {
      const ok = requests.some((r) => r.method() === 'POST' && /IntrospectionQuery|__schema/.test(r.postData() ?? '') && r.headers().authorization === `Bearer ${API_KEY}`);
      return { ok, value: requests.length };
    });
    await setEditor('.graphiql-query-editor', 0, `query Account {\n  accountByCode(code: "${ACCOUNT_CODE}") { id code currency balance }\n}\n`);
    const before = requests.length;
    await page.locator('.graphiql-execute-button').click();
    const text = await waitFor('the account in the results pane', async () => {
      const text = await responseText();
      return { ok: text.includes(ACCOUNT_ID) && text.includes('"balance"'), value: text };
    });
    const sent = requests.slice(before).find((r) => r.method() === 'POST' && (r.postData() ?? '').includes('accountByCode'));
    assert.ok(sent, 'no POST /graphql with the query');
    assert.equal(sent.headers().authorization, `Bearer ${API_KEY}`, 'the query was not sent with the Authorization header');
    assert.match(sent.headers()['content-type'] ?? '', /^application\/json/);
    assert.ok(!text.includes('"errors"'), `errors in the result: ${text}`);
    await screenshot('graphiql-query');
  });

  await step('GraphiQL: a subscription over graphql-transport-ws receives a deposit', async () => {
    await setEditor('.graphiql-query-editor', 0, `subscription Entries {\n  entryPosted(accountId: "${ACCOUNT_ID}") { sequence amount }\n}\n`);
    const entry = await subscribeAndDeposit(
      () => page.locator('.graphiql-execute-button').click(),
      'subscribe',
      responseText,
    );
    const ws = sockets.find((s) => messages(s.sent).some((m) => m.type === 'subscribe'));
    assert.equal(new URL(ws.url).pathname, '/graphql');
    const [init] = messages(ws.sent);
    assert.equal(init.type, 'connection_init');
    assert.deepEqual(init.payload, { Authorization: `Bearer ${API_KEY}` }, 'connection_init payload');
    assert.ok(messages(ws.received).some((m) => m.type === 'connection_ack'), 'no connection_ack');
    console.log(`      entry #${entry.sequence} 5.00 shown`);
    await screenshot('graphiql-subscription');
    // stop it: GraphiQL unsubscribes (graphql-transport-ws "complete")
    await page.locator('.graphiql-execute-button').click();
    await waitFor('the subscription to be stopped', async () => {
      const sent = messages(ws.sent);
      return { ok: sent.some((m) => m.type === 'complete'), value: sent.map((m) => m.type) };
    });
    await page.waitForTimeout(300);
    printSockets('GraphiQL');
  });
}

// ---- GraphQL Playground --------------------------------------------------------

async function playground() {
  const W = '.graphiql-wrapper.active';
  // In the active tab: editor 0 is the query, 1 the variables or headers
  // drawer, the rest the results.
  const responseText = async () => (await editorValues(`${W} .CodeMirror`)).slice(2).join('\n');
  const run = () => page.locator(`${W} [title="Execute Query (Ctrl-Enter)"]`).click();

  await step('Playground: GET /playground renders Playground from the local assets, SRI on every file', async () => {
    const response = await page.goto(`${PAGE_URL}/playground`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    await page.locator(`${W} .CodeMirror`).first().waitFor();
    console.log(`      ${await checkSri()} pinned files, each with sha384 integrity`);
    await screenshot('playground-loaded');
  }, { fatal: true });

  await step('Playground: the key in HTTP HEADERS; a query returns the account', async () => {
    await page.locator(W).getByText(/^HTTP Headers/i).click();
    await waitFor('the HTTP HEADERS editor to open', async () => {
      const n = (await editorValues(`${W} .CodeMirror`)).length;
      return { ok: n >= 2, value: n };
    });
    await setEditor(W, 1, HEADERS_JSON);
    await waitFor('Playground to count one header', async () => {
      const text = await page.locator(W).getByText(/^HTTP Headers/i).textContent();
      return { ok: /\(1\)/.test(text), value: text };
    });
    await setEditor(W, 0, `query Account {\n  accountByCode(code: "${ACCOUNT_CODE}") { id code currency balance }\n}\n`);
    const before = requests.length;
    await run();
    const text = await waitFor('the account in the results pane', async () => {
      const text = await responseText();
      return { ok: text.includes(ACCOUNT_ID) && text.includes('"balance"'), value: text };
    });
    const sent = requests.slice(before).find((r) => r.method() === 'POST' && (r.postData() ?? '').includes('accountByCode'));
    assert.ok(sent, 'no POST /graphql with the query');
    assert.equal(sent.headers().authorization, `Bearer ${API_KEY}`, 'the query was not sent with the Authorization header');
    assert.ok(!text.includes('"errors"'), `errors in the result: ${text}`);
    await screenshot('playground-query');
  });

  await step('Playground: a subscription over subscriptions-transport-ws receives a deposit', async () => {
    await setEditor(W, 0, `subscription Entries {\n  entryPosted(accountId: "${ACCOUNT_ID}") { sequence amount }\n}\n`);
    let entry;
    try {
      entry = await subscribeAndDeposit(run, 'start', responseText);
    } catch (error) {
      printSockets('Playground');
      throw error;
    }
    const ws = sockets.find((s) => messages(s.sent).some((m) => m.type === 'start'));
    assert.equal(new URL(ws.url).pathname, '/graphql');
    const [init] = messages(ws.sent);
    assert.equal(init.type, 'connection_init');
    assert.deepEqual(init.payload, { Authorization: `Bearer ${API_KEY}` }, 'connection_init payload');
    console.log(`      entry #${entry.sequence} 5.00 shown`);
    await screenshot('playground-subscription');
    await run(); // the same button stops it
    await waitFor('the subscription to be stopped', async () => {
      const sent = messages(ws.sent);
      return { ok: sent.some((m) => m.type === 'stop') || ws.closed, value: sent.map((m) => m.type) };
    });
    await page.waitForTimeout(300);
    printSockets('Playground');
  });
}

await main();
