// Tally wallet: accounts, the selected account's balance and entries (kept
// live by subscriptions), an idempotent transfer form and a currency
// exchange form. Plain DOM.
import './style.css';
import { client, onWsStatus } from './client';
import {
  AccountsQuery,
  AccountViewQuery,
  BalanceChangedSubscription,
  EntryPostedSubscription,
  ExchangeMutation,
  TransferMutation,
} from './documents';
import { describeError, type UiError } from './errors';
import type { AccountsQuery as AccountsData, EntryFieldsFragment } from './gql/graphql';
import { IdempotencyKeys } from './idempotency';

type AccountRow = AccountsData['accounts']['edges'][number]['node'];
/** The fields of an account that change; every change bumps `version`. */
interface AccountState {
  id: string;
  balance: string;
  heldBalance: string;
  availableBalance: string;
  version: number;
}
type EntryRow = EntryFieldsFragment & { cursor: string };
interface Subscription {
  unsubscribe(): void;
}

const ENTRIES_SHOWN = 50;

function $<T extends HTMLElement>(testId: string): T {
  const el = document.querySelector<T>(`[data-testid="${testId}"]`);
  if (!el) throw new Error(`missing element ${testId}`);
  return el;
}

const ui = {
  liveStatus: $('live-status'),
  accountList: $<HTMLUListElement>('account-list'),
  accountsStatus: $('accounts-status'),
  refresh: $<HTMLButtonElement>('refresh-accounts'),
  view: $('account-view'),
  code: $('selected-code'),
  balance: $('balance'),
  currency: $('currency'),
  available: $('available-balance'),
  held: $('held-balance'),
  form: $<HTMLFormElement>('transfer-form'),
  to: $<HTMLSelectElement>('transfer-to'),
  amount: $<HTMLInputElement>('transfer-amount'),
  submit: $<HTMLButtonElement>('transfer-submit'),
  exchangeForm: $<HTMLFormElement>('exchange-form'),
  exchangeTo: $<HTMLSelectElement>('exchange-to'),
  exchangeAmount: $<HTMLInputElement>('exchange-amount'),
  exchangeRate: $<HTMLInputElement>('exchange-rate'),
  exchangeSubmit: $<HTMLButtonElement>('exchange-submit'),
  messages: $('messages'),
  entries: $<HTMLOListElement>('entries'),
  entriesStatus: $('entries-status'),
};

// ---- state -----------------------------------------------------------------

/** Every listed account by id, in list order. */
const accounts = new Map<string, AccountRow>();
let selectedId: string | null = null;
/** Bumped on every selection, so late answers for a previous one are dropped. */
let selection = 0;
const entries = new Map<number, EntryRow>(); // by sequence
let entrySubscription: Subscription | null = null;
let balanceSubscription: Subscription | null = null;
let subscribedIds = '';

// ---- balances: applied only when newer than what is shown -------------------

/**
 * Applies an account state from any source (a query, a mutation's answer, a
 * balanceChanged event) if its version is newer than the one shown. The
 * sources race; the version orders them.
 */
function applyAccount(state: AccountState): void {
  const row = accounts.get(state.id);
  if (!row || state.version <= row.version) return;
  row.balance = state.balance;
  row.heldBalance = state.heldBalance;
  row.availableBalance = state.availableBalance;
  row.version = state.version;
  renderAccountItem(row);
  if (state.id === selectedId) renderBalance();
}

function renderBalance(): void {
  const row = selectedId ? accounts.get(selectedId) : undefined;
  if (!row) return;
  ui.balance.textContent = row.balance;
  ui.balance.dataset.version = String(row.version);
  ui.currency.textContent = row.currency;
  ui.available.textContent = row.availableBalance;
  ui.held.textContent = row.heldBalance;
}

// ---- account list ------------------------------------------------------------

function renderAccountItem(row: AccountRow): void {
  let button = ui.accountList.querySelector<HTMLButtonElement>(`[data-account-id="${row.id}"]`);
  if (!button) {
    const li = document.createElement('li');
    button = document.createElement('button');
    button.type = 'button';
    button.dataset.testid = 'account-item';
    button.dataset.accountId = row.id;
    button.dataset.code = row.code;
    if (row.isSystem) button.classList.add('system');
    button.innerHTML = '<span class="code"></span><span class="amount" data-testid="account-balance"></span>';
    button.addEventListener('click', () => select(row.id));
    li.append(button);
    ui.accountList.append(li);
  }
  button.querySelector('.code')!.textContent = row.code;
  button.querySelector('.amount')!.textContent = `${row.balance} ${row.currency}`;
  button.setAttribute('aria-pressed', String(row.id === selectedId));
}

async function loadAccounts(): Promise<void> {
  ui.accountsStatus.textContent = 'loading…';
  const result = await client.query(AccountsQuery, {}).toPromise();
  if (result.error || !result.data) {
    ui.accountsStatus.textContent = result.error ? format(describeError(result.error)) : 'no data';
    return;
  }
  for (const { node } of result.data.accounts.edges) {
    const known = accounts.get(node.id);
    if (known) {
      applyAccount(node);
    } else {
      accounts.set(node.id, { ...node });
      renderAccountItem(node);
    }
  }
  ui.accountsStatus.textContent = accounts.size === 0 ? 'no accounts yet' : '';
  renderTransferTargets();
  subscribeBalances();
}

/** One balanceChanged subscription for every listed account (renewed when the list grows). */
function subscribeBalances(): void {
  const ids = [...accounts.keys()].slice(0, 100); // the server's limit per subscription
  const key = ids.join(',');
  if (ids.length === 0 || key === subscribedIds) return;
  subscribedIds = key;
  balanceSubscription?.unsubscribe();
  balanceSubscription = client.subscription(BalanceChangedSubscription, { accountIds: ids }).subscribe((result) => {
    if (result.error) {
      setLiveProblem(`balanceChanged: ${format(describeError(result.error))}`);
    } else if (result.data) {
      applyAccount(result.data.balanceChanged);
    }
  });
}

// ---- the selected account -------------------------------------------------------

async function select(id: string): Promise<void> {
  if (id === selectedId) return;
  const token = ++selection;
  selectedId = id;
  keys.inputsChanged();
  for (const button of ui.accountList.querySelectorAll<HTMLButtonElement>('[data-account-id]')) {
    button.setAttribute('aria-pressed', String(button.dataset.accountId === id));
  }
  const row = accounts.get(id)!;
  ui.view.hidden = false;
  ui.code.textContent = row.code;
  renderBalance();
  renderTransferTargets();
  clearMessages();
  entrySubscription?.unsubscribe();
  entrySubscription = null;
  entries.clear();
  renderEntries();
  ui.entriesStatus.textContent = 'loading…';
  if (await loadEntries(id, token)) followEntries(id, token);
}

/**
 * Loads the account and its latest entries, merged into what is shown (the
 * balance only if newer). False when the selection moved on or it failed.
 */
async function loadEntries(id: string, token: number): Promise<boolean> {
  const result = await client.query(AccountViewQuery, { id, last: ENTRIES_SHOWN }).toPromise();
  if (token !== selection) return false;
  const account = result.data?.account;
  if (result.error || !account) {
    ui.entriesStatus.textContent = result.error ? format(describeError(result.error)) : 'account not found';
    return false;
  }
  applyAccount(account);
  for (const { cursor, node } of account.entries.edges) entries.set(node.sequence, { ...node, cursor });
  ui.entriesStatus.textContent = '';
  renderEntries();
  return true;
}

/** The highest sequence shown and its cursor. */
function lastEntry(): EntryRow | undefined {
  let last: EntryRow | undefined;
  for (const entry of entries.values()) if (!last || entry.sequence > last.sequence) last = entry;
  return last;
}

/**
 * Subscribes to the account's entries after the last one shown (those come
 * first, then live ones: no gap). Sequences have no holes, so an entry that
 * skips ahead (possible only when no cursor was known: without `after` the
 * server sends only entries committed after subscribing) makes the page
 * reload the latest entries.
 */
function followEntries(id: string, token: number): void {
  entrySubscription?.unsubscribe();
  entrySubscription = client
    .subscription(EntryPostedSubscription, { accountId: id, after: lastEntry()?.cursor ?? null })
    .subscribe((event) => {
      if (token !== selection) return;
      if (event.error) {
        setLiveProblem(`entryPosted: ${format(describeError(event.error))}`);
        return;
      }
      if (!event.data) return;
      const entry = event.data.entryPosted;
      const last = lastEntry();
      entries.set(entry.sequence, entry); // a resend replaces itself
      renderEntries();
      if (entry.sequence > (last?.sequence ?? 0) + 1) void loadEntries(id, token);
    });
}

/** After a reconnect: catch up on missed balances and resume entries from the last one shown. */
function resume(): void {
  void loadAccounts();
  if (!selectedId) return;
  const id = selectedId;
  const token = selection;
  void loadEntries(id, token).then((ok) => ok && followEntries(id, token));
}

function renderEntries(): void {
  const newestFirst = [...entries.values()].sort((a, b) => b.sequence - a.sequence).slice(0, ENTRIES_SHOWN);
  ui.entries.replaceChildren(
    ...newestFirst.map((entry) => {
      const li = document.createElement('li');
      li.dataset.testid = 'entry';
      li.dataset.sequence = String(entry.sequence);
      li.dataset.amount = entry.amount;
      const credit = !entry.amount.startsWith('-');
      li.className = credit ? 'credit' : 'debit';
      const time = new Date(entry.createdAt).toLocaleTimeString();
      li.innerHTML =
        '<span class="seq"></span><span class="kind"></span><span class="amount entry-amount"></span>' +
        '<span class="after"></span><span class="time"></span>';
      li.querySelector('.seq')!.textContent = `#${entry.sequence}`;
      li.querySelector('.kind')!.textContent = entry.transfer.description ?? entry.transfer.kind.toLowerCase();
      li.querySelector('.entry-amount')!.textContent = credit ? `+${entry.amount}` : entry.amount;
      li.querySelector('.after')!.textContent = `→ ${entry.balanceAfter}`;
      li.querySelector('.time')!.textContent = time;
      return li;
    }),
  );
  if (entries.size === 0 && !ui.entriesStatus.textContent) ui.entriesStatus.textContent = 'no entries yet';
  if (entries.size > 0) ui.entriesStatus.textContent = '';
}

// ---- transfer form ----------------------------------------------------------------

const keys = new IdempotencyKeys();
let inFlight = false;

/** Transfers go to accounts of the same currency, exchanges to the others. */
function renderTransferTargets(): void {
  const from = selectedId ? accounts.get(selectedId) : undefined;
  const others = [...accounts.values()].filter((a) => from && a.id !== from.id && !a.isSystem);
  fillTargets(ui.to, others.filter((a) => a.currency === from?.currency));
  fillTargets(ui.exchangeTo, others.filter((a) => a.currency !== from?.currency));
}

function fillTargets(select: HTMLSelectElement, options: AccountRow[]): void {
  const previous = select.value;
  select.replaceChildren(
    new Option('choose…', ''),
    ...options.map((a) => {
      const option = new Option(a.code, a.id);
      option.dataset.code = a.code;
      return option;
    }),
  );
  if (options.some((a) => a.id === previous)) select.value = previous;
}

function format(error: UiError): string {
  return `${error.code}: ${error.message}`;
}

function clearMessages(): void {
  ui.messages.replaceChildren();
}

function showMessage(testId: 'error' | 'transfer-result' | 'exchange-result', text: string): void {
  const div = document.createElement('div');
  div.dataset.testid = testId;
  div.className = testId;
  div.setAttribute('role', testId === 'error' ? 'alert' : 'status');
  div.textContent = text;
  ui.messages.replaceChildren(div);
}

function setLiveProblem(text: string): void {
  ui.liveStatus.dataset.status = 'error';
  ui.liveStatus.textContent = 'live updates unavailable';
  ui.liveStatus.title = text;
  console.warn(text);
}

function showPendingKey(): void {
  const key = keys.pending;
  if (key) ui.form.dataset.idempotencyKey = key;
  else delete ui.form.dataset.idempotencyKey;
}

for (const input of [ui.to, ui.amount]) {
  input.addEventListener('input', () => {
    keys.inputsChanged();
    showPendingKey();
  });
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  void submitTransfer();
});

async function submitTransfer(): Promise<void> {
  if (inFlight || !selectedId) return; // the disabled button is a courtesy; the key is the guarantee
  const from = accounts.get(selectedId)!;
  const fields = { fromAccountId: from.id, toAccountId: ui.to.value, amount: ui.amount.value.trim() };
  if (!fields.toAccountId) return showMessage('error', 'INVALID_INPUT: choose an account to send to');
  if (!fields.amount) return showMessage('error', 'INVALID_AMOUNT: enter an amount, e.g. 30.00');
  const idempotencyKey = keys.keyFor(fields);
  showPendingKey();
  inFlight = true;
  ui.submit.disabled = true;
  ui.form.setAttribute('aria-busy', 'true');
  clearMessages();
  try {
    const result = await client.mutation(TransferMutation, { input: { ...fields, idempotencyKey } }).toPromise();
    if (result.error || !result.data) {
      const error = result.error
        ? describeError(result.error)
        : { code: 'NETWORK_ERROR', message: 'no answer', definite: false };
      // A refusal is final and moved nothing; otherwise the outcome is
      // unknown and resubmitting must reuse the key.
      if (error.definite && keys.pending === idempotencyKey) keys.settle();
      const hint = error.definite ? '' : ' (the transfer may or may not have happened; sending again is safe: it is applied at most once)';
      showMessage('error', format(error) + hint);
    } else {
      const transfer = result.data.transfer;
      if (keys.pending === idempotencyKey) keys.settle();
      applyAccount(transfer.fromAccount);
      applyAccount(transfer.toAccount);
      const to = accounts.get(transfer.toAccount.id);
      showMessage('transfer-result', `Sent ${transfer.amount} ${from.currency} to ${to?.code ?? transfer.toAccount.id}.`);
      ui.amount.value = '';
    }
  } finally {
    inFlight = false;
    ui.submit.disabled = false;
    ui.form.removeAttribute('aria-busy');
    showPendingKey();
  }
}

// ---- exchange form ------------------------------------------------------------------

const exchangeKeys = new IdempotencyKeys();
let exchangeInFlight = false;

for (const input of [ui.exchangeTo, ui.exchangeAmount, ui.exchangeRate]) {
  input.addEventListener('input', () => exchangeKeys.inputsChanged());
}

ui.exchangeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void submitExchange();
});

/** Converts at the rate typed in (rounded half-even, the remainder recorded by the server). */
async function submitExchange(): Promise<void> {
  if (exchangeInFlight || !selectedId) return;
  const fields = {
    fromAccountId: selectedId,
    toAccountId: ui.exchangeTo.value,
    amount: ui.exchangeAmount.value.trim(),
    rate: ui.exchangeRate.value.trim(),
  };
  if (!fields.toAccountId) return showMessage('error', 'INVALID_INPUT: choose an account of another currency');
  if (!fields.amount) return showMessage('error', 'INVALID_AMOUNT: enter an amount, e.g. 10.00');
  const idempotencyKey = exchangeKeys.keyFor(fields);
  exchangeInFlight = true;
  ui.exchangeSubmit.disabled = true;
  ui.exchangeForm.setAttribute('aria-busy', 'true');
  clearMessages();
  try {
    const input = { ...fields, rate: fields.rate || null, rounding: 'HALF_EVEN' as const, idempotencyKey };
    const result = await client.mutation(ExchangeMutation, { input }).toPromise();
    if (result.error || !result.data) {
      const error = result.error
        ? describeError(result.error)
        : { code: 'NETWORK_ERROR', message: 'no answer', definite: false };
      if (error.definite && exchangeKeys.pending === idempotencyKey) exchangeKeys.settle();
      showMessage('error', format(error));
    } else {
      if (exchangeKeys.pending === idempotencyKey) exchangeKeys.settle();
      const { transfers, exchange: x } = result.data.exchange;
      for (const leg of transfers) {
        applyAccount(leg.fromAccount);
        applyAccount(leg.toAccount);
      }
      showMessage(
        'exchange-result',
        `Converted ${x.sourceAmount} ${x.sourceCurrency} to ${x.targetAmount} ${x.targetCurrency} at ${x.rate} ` +
          `(${x.rounding.toLowerCase().replace('_', '-')}; remainder ${x.remainder} recorded).`,
      );
      ui.exchangeAmount.value = '';
    }
  } finally {
    exchangeInFlight = false;
    ui.exchangeSubmit.disabled = false;
    ui.exchangeForm.removeAttribute('aria-busy');
  }
}

// ---- live status, start -------------------------------------------------------------

onWsStatus((status, reconnect) => {
  if (status === 'connected') {
    ui.liveStatus.dataset.status = 'live';
    ui.liveStatus.textContent = 'live';
    ui.liveStatus.title = '';
    // balanceChanged sends only later changes, and entries resume from a cursor.
    if (reconnect) resume();
  } else if (ui.liveStatus.dataset.status !== 'error') {
    ui.liveStatus.dataset.status = status;
    ui.liveStatus.textContent = status === 'connecting' ? 'connecting…' : 'offline, reconnecting…';
  }
});

ui.refresh.addEventListener('click', () => void loadAccounts());
void loadAccounts();
