// End-to-end test of the wallet against a running Tally server, in headless
// Chromium driven by playwright-core (no test runner, no browser download).
//
//   TALLY_URL=http://127.0.0.1:8000   the Tally server (seeding, API checks)
//   WEB_URL=http://127.0.0.1:4173     the vite preview/dev server proxying /graphql to it
//   CHROMIUM=/usr/bin/chromium        optional
//   RESULTS_DIR=test-results          optional: screenshots go there
//   E2E_TIMEOUT_MS=10000              optional: the limit of each wait
//   E2E_BLOCK_WEBSOCKETS=1            optional: refuse the page's websockets, to check
//                                     that only the [live] steps depend on subscriptions
//
// Every step runs even when an earlier non-fatal one failed; the steps that
// need the server's subscriptions are marked [live]. Exits 1 on any failure.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const TALLY_URL = required('TALLY_URL').replace(/\/$/, '');
const WEB_URL = required('WEB_URL').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RESULTS_DIR = resolve(process.env.RESULTS_DIR || join(here, '..', 'test-results'));
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 10_000);

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the top of ${fileURLToPath(import.meta.url)})`);
    process.exit(2);
  }
  return value;
}

// ---- GraphQL straight to the server ------------------------------------------

async function gql(query, variables = {}) {
  const response = await fetch(`${TALLY_URL}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
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

async function createAccount(code, currency = 'USD') {
  const data = await gql(
    `mutation ($input: CreateAccountInput!) { createAccount(input: $input) { id code } }`,
    { input: { code, currency } },
  );
  return data.createAccount;
}

async function deposit(accountId, amount, idempotencyKey) {
  const data = await gql(
    `mutation ($input: DepositInput!) {
       deposit(input: $input) { id toAccount { balance } entries { accountId sequence amount } }
     }`,
    { input: { accountId, amount, idempotencyKey, description: 'e2e top-up' } },
  );
  return data.deposit;
}

async function balanceOf(id) {
  const data = await gql(`query ($id: UUID!) { account(id: $id) { balance } }`, { id });
  return data.account.balance;
}

/** The amounts of every TRANSFER debiting or crediting `accountId`. */
async function transferAmounts(accountId) {
  const data = await gql(
    `query ($id: UUID!) { transfers(accountId: $id, kind: TRANSFER, first: 1000) { edges { node { amount fromAccountId } } } }`,
    { id: accountId },
  );
  return data.transfers.edges.map((e) => e.node).filter((t) => t.fromAccountId === accountId).map((t) => t.amount);
}

// ---- steps -------------------------------------------------------------------

const results = [];
let shots = 0;
let page;

class Fatal extends Error {}

async function step(name, fn, { live = false, fatal = false } = {}) {
  const label = `${live ? '[live] ' : ''}${name}`;
  const started = Date.now();
  try {
    await fn();
    results.push({ label, ok: true });
    console.log(`ok    ${label} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ label, ok: false, error });
    console.log(`FAIL  ${label} (${Date.now() - started} ms)\n      ${String(error?.message ?? error).replace(/\n/g, '\n      ')}`);
    if (page) await screenshot(`FAILED-${slug(name)}`).catch(() => {});
    if (fatal) throw new Fatal(label);
  }
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 50);
}

async function screenshot(name) {
  const file = join(RESULTS_DIR, `${String(++shots).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`      screenshot ${file}`);
}

/** Polls `probe` until it returns { ok: true }, at most TIMEOUT ms; fails with what it saw last. */
async function waitFor(what, probe) {
  const deadline = Date.now() + TIMEOUT;
  let seen;
  for (;;) {
    try {
      const { ok, value } = await probe();
      seen = value;
      if (ok) return value;
    } catch (error) {
      seen = `error: ${error.message}`;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${TIMEOUT / 1000} s waiting for ${what}; last seen: ${JSON.stringify(seen)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const byTestId = (id) => page.locator(`[data-testid="${id}"]`);
const textOf = async (locator) => ((await locator.count()) ? (await locator.first().textContent())?.trim() : null);

async function waitForText(testId, expected) {
  return waitFor(`${testId} to read ${JSON.stringify(expected)}`, async () => {
    const value = await textOf(byTestId(testId));
    return { ok: value === expected, value };
  });
}

async function waitForTextContaining(testId, expected) {
  return waitFor(`${testId} to contain ${JSON.stringify(expected)}`, async () => {
    const value = await textOf(byTestId(testId));
    return { ok: value?.includes(expected) ?? false, value };
  });
}

async function waitForEntry(sequence, amount) {
  const entry = page.locator(`[data-testid="entry"][data-sequence="${sequence}"]`);
  return waitFor(`entry #${sequence} (${amount}) in the entries list`, async () => {
    const shown = await page
      .locator('[data-testid="entry"]')
      .evaluateAll((els) => els.map((el) => `#${el.dataset.sequence} ${el.dataset.amount}`));
    const ok = (await entry.count()) === 1 && (await entry.getAttribute('data-amount')) === amount;
    return { ok, value: shown };
  });
}

async function waitForApiBalance(id, expected, who) {
  return waitFor(`${who}'s balance through the API to be ${expected}`, async () => {
    const value = await balanceOf(id);
    return { ok: value === expected, value };
  });
}

/** Waits until the form is idle again (no transfer in flight). */
async function waitIdle() {
  await waitFor('the transfer form to be idle', async () => {
    const busy = await byTestId('transfer-form').getAttribute('aria-busy');
    const disabled = await byTestId('transfer-submit').isDisabled();
    return { ok: !busy && !disabled, value: { busy, disabled } };
  });
}

/** Keys of the Transfer mutations the page sent, in order. */
const transferKeys = [];
function recordTransferRequests() {
  page.on('request', (request) => {
    if (request.method() !== 'POST' || !request.url().endsWith('/graphql')) return;
    try {
      const body = JSON.parse(request.postData() ?? '{}');
      if (body.operationName === 'Transfer') transferKeys.push(body.variables.input.idempotencyKey);
    } catch {
      /* not ours */
    }
  });
}

// ---- the scenario ------------------------------------------------------------

async function main() {
  mkdirSync(RESULTS_DIR, { recursive: true });
  for (const old of (await import('node:fs')).readdirSync(RESULTS_DIR)) {
    if (old.endsWith('.png')) rmSync(join(RESULTS_DIR, old));
  }
  const run = Math.random().toString(36).slice(2, 7);
  const codes = { alice: `alice-${run}`, bob: `bob-${run}`, carol: `carol-${run}` };
  let alice;
  let bob;
  let carol;

  await step('seed: USD accounts alice and bob, EUR account carol, a deposit of 100.00 into alice (direct GraphQL)', async () => {
    alice = await createAccount(codes.alice);
    bob = await createAccount(codes.bob);
    carol = await createAccount(codes.carol, 'EUR');
    const dep = await deposit(alice.id, '100.00', `e2e-${run}-seed`);
    assert.equal(dep.toAccount.balance, '100.00');
  }, { fatal: true });

  const profile = mkdtempSync(join(tmpdir(), 'tally-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 760 },
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
  const pageErrors = [];
  try {
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') console.log(`      [page console.${msg.type()}] ${msg.text()}`);
    });
    recordTransferRequests();
    if (process.env.E2E_BLOCK_WEBSOCKETS) await page.routeWebSocket(/.*/, (ws) => ws.close({ code: 1013, reason: 'blocked by E2E_BLOCK_WEBSOCKETS' }));

    const item = (code) => page.locator(`[data-testid="account-item"][data-code="${code}"]`);

    await step('the page lists alice and bob', async () => {
      await page.goto(WEB_URL, { waitUntil: 'load', timeout: TIMEOUT });
      await waitFor('alice and bob in the account list', async () => {
        const shown = await page.locator('[data-testid="account-item"]').evaluateAll((els) => els.map((e) => e.dataset.code));
        return { ok: shown.includes(codes.alice) && shown.includes(codes.bob), value: shown };
      });
      await screenshot('loaded');
    }, { fatal: true });

    await step('selecting alice shows balance 100.00 and the deposit entry', async () => {
      await item(codes.alice).click();
      await waitForText('selected-code', codes.alice);
      await waitForText('balance', '100.00');
      await waitForEntry(1, '100.00');
      await screenshot('alice-selected');
    }, { fatal: true });

    await step('transfer of 30.00 to bob through the form: balance 70.00 without reload', async () => {
      await byTestId('transfer-to').selectOption({ label: codes.bob });
      await byTestId('transfer-amount').fill('30.00');
      await byTestId('transfer-submit').click();
      await waitForTextContaining('transfer-result', '30.00');
      await waitForText('balance', '70.00');
      await waitForApiBalance(alice.id, '70.00', 'alice');
      await waitForApiBalance(bob.id, '30.00', 'bob');
      await screenshot('transferred-30');
    });

    let depositSequence;
    await step('out-of-band deposit of 5.00 (direct GraphQL): balance 75.00 without reload', async () => {
      const dep = await deposit(alice.id, '5.00', `e2e-${run}-live`);
      depositSequence = dep.entries.find((e) => e.accountId === alice.id).sequence;
      await waitForText('balance', '75.00');
    }, { live: true });

    await step('the deposit (and the 30.00 transfer) appear in the entries list without reload', async () => {
      assert.ok(depositSequence, 'the deposit step failed before posting');
      await waitForEntry(depositSequence - 1, '-30.00');
      await waitForEntry(depositSequence, '5.00');
    }, { live: true });
    await screenshot('live-deposit');

    await step('double-clicking submit for 1.00 moves money once (alice 74.00 through the API)', async () => {
      await waitIdle();
      await byTestId('transfer-to').selectOption({ label: codes.bob });
      await byTestId('transfer-amount').fill('1.00');
      const before = transferKeys.length;
      await byTestId('transfer-submit').dblclick();
      await waitForTextContaining('transfer-result', '1.00');
      await waitIdle();
      await waitForApiBalance(alice.id, '74.00', 'alice');
      const ones = (await transferAmounts(alice.id)).filter((a) => a === '1.00');
      assert.equal(ones.length, 1, `expected exactly one 1.00 transfer from alice, found ${ones.length}`);
      const sent = transferKeys.slice(before);
      assert.ok(sent.length >= 1, 'the page sent no transfer');
      assert.equal(new Set(sent).size, 1, `every request of one intended transfer must carry one key, got ${sent}`);
      await waitForText('balance', '74.00');
      await screenshot('double-click');
    });

    await step('a transfer of 1000.00 shows INSUFFICIENT_FUNDS and leaves the balance unchanged', async () => {
      await waitIdle();
      const shown = await textOf(byTestId('balance'));
      await byTestId('transfer-amount').fill('1000.00');
      await byTestId('transfer-submit').click();
      await waitForTextContaining('error', 'INSUFFICIENT_FUNDS');
      assert.match(await textOf(byTestId('error')), /^INSUFFICIENT_FUNDS: \S/);
      await waitIdle();
      assert.equal(await textOf(byTestId('balance')), shown, 'the balance shown changed');
      assert.equal(await balanceOf(alice.id), '74.00');
      await screenshot('insufficient-funds');
    });

    await step('a retry after a lost response reuses the key: 2.00 moves once (alice 72.00)', async () => {
      await waitIdle();
      await byTestId('transfer-amount').fill('2.00');
      // The first Transfer request reaches the server, but the page gets a network error.
      let lost = 0;
      await page.route('**/graphql', async (route) => {
        const body = route.request().postDataJSON?.() ?? null;
        if (lost === 0 && body?.operationName === 'Transfer') {
          lost++;
          await route.fetch(); // the server applies it...
          return route.abort('connectionreset'); // ...and the answer is lost
        }
        return route.continue();
      });
      const before = transferKeys.length;
      await byTestId('transfer-submit').click();
      await waitForTextContaining('error', 'NETWORK_ERROR');
      await waitIdle();
      assert.equal(lost, 1, 'the first request was not intercepted');
      await waitForApiBalance(alice.id, '72.00', 'alice'); // it did happen
      await page.unroute('**/graphql');
      await screenshot('lost-response');
      await byTestId('transfer-submit').click();
      await waitForTextContaining('transfer-result', '2.00');
      await waitIdle();
      const sent = transferKeys.slice(before);
      assert.equal(sent.length, 2, `expected two requests (lost + retry), saw ${sent.length}`);
      assert.equal(sent[0], sent[1], 'the retry must reuse the idempotency key');
      assert.equal(await balanceOf(alice.id), '72.00', 'the retry moved money a second time');
      const twos = (await transferAmounts(alice.id)).filter((a) => a === '2.00');
      assert.equal(twos.length, 1, `expected exactly one 2.00 transfer from alice, found ${twos.length}`);
      await waitForText('balance', '72.00');
      await screenshot('retried');
    });

    await step('converting 10.00 USD to carol at 0.9137: 9.14 EUR, the remainder shown, alice 62.00', async () => {
      await waitIdle();
      await byTestId('exchange-to').selectOption({ label: codes.carol });
      await byTestId('exchange-amount').fill('10.00');
      await byTestId('exchange-rate').fill('0.9137');
      await byTestId('exchange-submit').click();
      await waitForTextContaining('exchange-result', '9.14 EUR');
      assert.match(await textOf(byTestId('exchange-result')), /remainder -0\.003 recorded/);
      await waitForText('balance', '62.00');
      await waitForApiBalance(alice.id, '62.00', 'alice');
      await waitForApiBalance(carol.id, '9.14', 'carol');
      await screenshot('exchanged');
    });

    await step('no uncaught errors in the page', async () => {
      assert.deepEqual(pageErrors, []);
    });
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  if (!(error instanceof Fatal)) {
    results.push({ label: 'unexpected error', ok: false, error });
    console.log(`FAIL  unexpected error: ${error?.stack ?? error}`);
  } else {
    console.log('      (stopped: the steps after a fatal one cannot run)');
  }
}

const failed = results.filter((r) => !r.ok);
console.log('');
if (failed.length) {
  console.log('Failed steps:');
  for (const r of failed) console.log(`  - ${r.label}: ${String(r.error?.message ?? r.error).split('\n')[0]}`);
}
console.log(`screenshots: ${RESULTS_DIR}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
