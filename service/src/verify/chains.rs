//! Per-account chains. [`Chains`] holds the walk state of a set of
//! accounts and takes their entries in any order: an entry that arrives
//! before its predecessor waits (in a small per-account buffer) until the
//! predecessor comes. Two ways to feed it:
//! - the whole ledger at once, when its accounts fit in memory: the transfer
//!   walk hands over every entry it reads (each entry is read once);
//! - otherwise, [`walk`]: a page of accounts at a time, its entries in
//!   (account, sequence) order, one range scan of that index per page.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::model::error::{LedgerError, Result};
use crate::model::hash::{EntryFields, ZERO_HASH, entry_hash};
use crate::model::report::{Verification, problem};
use crate::store::db::Cols;

/// The most entries one account's chain holds back waiting for a
/// predecessor (writers on several instances can commit an account's
/// entries out of transfer-id order, but not by this many).
const MAX_WAITING: usize = 100_000;

/// The columns of an account the walk needs.
pub(super) struct Account {
    pub id: Uuid,
    pub(super) currency: String,
    pub(super) balance: Decimal,
    pub(super) held_balance: Decimal,
    pub(super) entry_count: i64,
}

/// The columns of an entry the walk needs.
pub(super) struct Entry {
    pub account_id: Uuid,
    pub sequence: i64,
    pub transfer_id: Uuid,
    pub amount: Decimal,
    pub balance_after: Decimal,
    /// The stored text of `amount` and `balance_after`, which the hash covers.
    amount_text: String,
    balance_text: String,
    pub created_at: DateTime<Utc>,
    pub effective_at: Option<DateTime<Utc>>,
    pub previous_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The columns [`Entry::decode`] reads, in its order, of an `entry e`.
pub(super) const ENTRY_COLUMNS: &str = "e.account_id, e.sequence, e.transfer_id, e.amount, e.balance_after, \
    e.created_at, e.effective_at, e.previous_hash, e.hash";

impl Entry {
    /// Decodes the [`ENTRY_COLUMNS`], in that order.
    pub(super) fn decode(c: &mut Cols<'_>) -> Result<Self> {
        let (account_id, sequence, transfer_id) = (c.next()?, c.next()?, c.next()?);
        let (amount_text, balance_text): (String, String) = (c.next()?, c.next()?);
        Ok(Entry {
            account_id,
            sequence,
            transfer_id,
            amount: decimal(&amount_text)?,
            balance_after: decimal(&balance_text)?,
            amount_text,
            balance_text,
            created_at: c.next()?,
            effective_at: c.next()?,
            previous_hash: c.next()?,
            hash: c.next()?,
        })
    }
}

fn decimal(text: &str) -> Result<Decimal> {
    Decimal::from_str_exact(text).map_err(|e| LedgerError::Internal(format!("stored amount {text:?}: {e}")))
}

/// Hashes a UUID key by folding its two halves: UUIDs are random enough
/// (v4, or v7's random tail) that SipHash buys nothing on this hot path.
#[derive(Default)]
struct UuidHasher(u64);

impl Hasher for UuidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
}

/// The walk state of a set of accounts.
#[derive(Default)]
pub(super) struct Chains {
    by_account: HashMap<Uuid, Chain, BuildHasherDefault<UuidHasher>>,
}

impl Chains {
    pub(super) fn new(accounts: Vec<Account>) -> Self {
        Chains {
            by_account: accounts.into_iter().map(|a| (a.id, Chain::new(a))).collect(),
        }
    }

    /// Checks `e` against its account's chain (or keeps it until its
    /// predecessor arrives).
    pub(super) fn offer(&mut self, e: Entry, v: &mut Verification) {
        v.entries_checked += 1;
        match self.by_account.get_mut(&e.account_id) {
            Some(chain) => chain.offer(e, v),
            None => v.report(problem(
                Some(e.account_id),
                Some(e.sequence),
                "entry belongs to no account (its account is missing)".into(),
            )),
        }
    }

    /// Whether some chain is still waiting for an entry or ends short of its
    /// account's entry count: then an entry may exist that no transfer
    /// claims (the transfer walk never saw it).
    pub(super) fn incomplete(&self) -> bool {
        self.by_account
            .values()
            .any(|c| c.gapped || (!c.broken && (!c.waiting.is_empty() || c.next_sequence - 1 != c.account.entry_count)))
    }

    /// Ends every chain (in account order) against its account row; adds
    /// each currency's balances to `sums`. Returns whether some chain had a
    /// gap (an entry never arrived).
    pub(super) fn finish(self, sums: &mut BTreeMap<String, Decimal>, v: &mut Verification) -> bool {
        let mut chains: Vec<Chain> = self.by_account.into_values().collect();
        chains.sort_by_key(|c| c.account.id);
        let mut gaps = false;
        for chain in chains {
            *sums.entry(chain.account.currency.clone()).or_default() += chain.account.balance;
            gaps |= chain.finish(v);
        }
        gaps
    }
}

/// The state of one account's walk.
struct Chain {
    account: Account,
    next_sequence: i64,
    previous_hash: Vec<u8>,
    /// The previous entry's time: times never decrease along a chain
    /// (`balanceAt` binary-searches on it).
    previous_at: Option<DateTime<Utc>>,
    running: Decimal,
    broken: bool,
    /// Entries that arrived before their predecessor, by sequence.
    waiting: BTreeMap<i64, Entry>,
    /// A gap was reported (an entry never arrived).
    gapped: bool,
}

impl Chain {
    fn new(account: Account) -> Self {
        Chain {
            account,
            next_sequence: 1,
            previous_hash: ZERO_HASH.to_vec(),
            previous_at: None,
            running: Decimal::ZERO,
            broken: false,
            waiting: BTreeMap::new(),
            gapped: false,
        }
    }

    fn offer(&mut self, e: Entry, v: &mut Verification) {
        if self.broken {
            return;
        }
        if e.sequence > self.next_sequence {
            if let Some(twin) = self.waiting.insert(e.sequence, e) {
                self.fail(twin.sequence, format!("entry {} appears twice", twin.sequence), v);
            } else if self.waiting.len() > MAX_WAITING {
                // Far more than any reordering between writers explains: the
                // predecessor is missing. Report it now and free the buffer.
                self.report_gap(v);
            }
            return;
        }
        if e.sequence < self.next_sequence {
            self.fail(e.sequence, format!("entry {} appears twice", e.sequence), v);
            return;
        }
        self.check(&e, v);
        while !self.broken
            && let Some(next) = self.waiting.remove(&self.next_sequence)
        {
            self.check(&next, v);
        }
    }

    /// The next entry never came, but later ones did.
    fn report_gap(&mut self, v: &mut Verification) {
        self.gapped = true;
        let expected = self.next_sequence;
        if let Some(found) = self.waiting.keys().next().copied() {
            self.fail(
                expected,
                format!("entry {expected} is missing (found entry {found} next)"),
                v,
            );
        }
    }

    fn fail(&mut self, sequence: i64, message: String, v: &mut Verification) {
        self.broken = true;
        self.waiting.clear();
        v.report(problem(Some(self.account.id), Some(sequence), message));
    }

    fn check(&mut self, e: &Entry, v: &mut Verification) {
        if let Some(message) = self.first_fault(e) {
            self.fail(e.sequence, message, v);
            return;
        }
        self.running = e.balance_after;
        self.previous_hash.clone_from(&e.hash);
        self.previous_at = Some(e.created_at);
        self.next_sequence += 1;
    }

    fn first_fault(&self, e: &Entry) -> Option<String> {
        // Stored by entries of older versions only (empty: not stored).
        if !e.previous_hash.is_empty() && e.previous_hash != self.previous_hash {
            return Some("previous_hash does not match the previous entry's hash".into());
        }
        let recomputed = entry_hash(&EntryFields {
            previous_hash: &self.previous_hash,
            account_id: e.account_id,
            sequence: e.sequence,
            transfer_id: e.transfer_id,
            amount: &e.amount_text,
            balance_after: &e.balance_text,
            created_at: e.created_at,
            effective_at: e.effective_at,
        });
        if e.hash != recomputed {
            // Without a stored previous_hash the predecessor's hash is in the
            // recomputation: a rewritten predecessor shows here too.
            return Some(match e.previous_hash.is_empty() {
                true => "hash does not match the entry's content (it, or its predecessor's hash, was altered)".into(),
                false => "hash does not match the entry's content (the entry was altered)".into(),
            });
        }
        if let Some(previous) = self.previous_at
            && e.created_at < previous
        {
            return Some(format!(
                "created_at {} is earlier than the previous entry's {previous}",
                e.created_at
            ));
        }
        let running = self.running + e.amount;
        if running != e.balance_after {
            return Some(format!(
                "balance_after is {} but the running balance is {running}",
                e.balance_after
            ));
        }
        None
    }

    /// Reports what is wrong at the end of the chain; returns whether an
    /// entry never arrived (a gap).
    fn finish(mut self, v: &mut Verification) -> bool {
        if self.broken {
            return self.gapped;
        }
        if !self.waiting.is_empty() {
            self.report_gap(v);
            return true;
        }
        let a = &self.account;
        let expected = self.next_sequence;
        let last = expected - 1;
        let fault = if a.entry_count != last {
            Some((
                last + 1,
                format!(
                    "account records {} entries but {last} exist (entries missing at the end)",
                    a.entry_count
                ),
            ))
        } else if a.balance != self.running {
            Some((
                last,
                format!(
                    "stored balance {} differs from the running balance {}",
                    a.balance, self.running
                ),
            ))
        } else {
            None
        };
        if let Some((seq, message)) = fault {
            v.report(problem(Some(a.id), Some(seq), message));
        }
        false
    }
}

#[cfg(test)]
mod tests;
