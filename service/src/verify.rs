//! `verifyLedger`: recompute everything the ledger claims, from the rows.
//!
//! In one read snapshot, streaming in bounded pages:
//! - per account: sequences 1..n without gaps, each `previous_hash` equal to
//!   the previous entry's hash, each hash recomputed, each `balance_after`
//!   equal to the running sum, and the account row's balance, entry count and
//!   chain head equal to what its entries say (the first broken entry of each
//!   account is reported, then that account is skipped);
//! - per transfer: exactly two entries, summing to zero, matching its
//!   accounts and amount;
//! - per account: the held balance equals the sum of its pending holds;
//! - per currency: the balances of all its accounts sum to zero.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use sea_orm::{
    AccessMode, ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::error::Result;
use crate::hash::{EntryFields, ZERO_HASH, entry_hash, transfer_hash};
use crate::ledger::Ledger;
use crate::seal::digest::Digest;
use entity::{account, entry, hold, transfer};

const ACCOUNT_PAGE: u64 = 2000;
const ROW_PAGE: u64 = 10_000;
const MAX_PROBLEMS: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub account_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    pub sequence: Option<i64>,
    pub message: String,
}

#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub accounts_checked: u64,
    pub entries_checked: u64,
    pub transfers_checked: u64,
    pub leaves_checked: u64,
    pub blocks_checked: u64,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub(crate) fn report(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

pub async fn verify(ledger: &Ledger) -> Result<Verification> {
    verify_with(ledger, None, None).await
}

/// How far a walk has come, for progress reports.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub entries_checked: u64,
    pub entries_total: u64,
}

/// The full walk, optionally also proving that `digest` (saved earlier) is a
/// prefix of today's journal. `progress`, when given, is called after every
/// page; only then is the total counted (a full scan nobody else needs).
pub async fn verify_with(
    ledger: &Ledger,
    digest: Option<&Digest>,
    mut progress: Option<&mut (dyn FnMut(Progress) + Send)>,
) -> Result<Verification> {
    let txn = snapshot(ledger).await?;
    let mut v = Verification::default();
    let entries_total = match progress {
        Some(_) => entry::Entity::find().count(&txn).await?,
        None => 0,
    };
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut after: Option<Uuid> = None;
    loop {
        let accounts = account_page(&txn, after).await?;
        let Some(last) = accounts.last() else { break };
        after = Some(last.id);
        for a in &accounts {
            *sums.entry(a.currency.clone()).or_default() += a.balance.0;
        }
        check_accounts(&txn, &accounts, &mut v).await?;
        if let Some(report) = progress.as_mut() {
            report(Progress {
                entries_checked: v.entries_checked,
                entries_total,
            });
        }
    }
    for (currency, sum) in sums.into_iter().filter(|(_, s)| !s.is_zero()) {
        v.report(problem(
            None,
            None,
            format!("balances of {currency} sum to {sum}, not zero"),
        ));
    }
    check_transfers(&txn, &mut v).await?;
    crate::seal::audit::journal(&txn, &mut v, digest).await?;
    txn.rollback().await?;
    Ok(v)
}

/// One consistent view for the whole walk, so concurrent writers never look
/// like corruption.
async fn snapshot(ledger: &Ledger) -> Result<DatabaseTransaction> {
    let db = ledger.connection();
    let options = match db.get_database_backend() {
        DbBackend::Postgres => TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            ..Default::default()
        },
        _ => TransactionOptions::default(),
    };
    Ok(db.begin_with_options(options).await?)
}

async fn account_page(txn: &DatabaseTransaction, after: Option<Uuid>) -> Result<Vec<account::Model>> {
    let mut q = account::Entity::find().order_by_asc(account::Column::Id);
    if let Some(after) = after {
        q = q.filter(account::Column::Id.gt(after));
    }
    Ok(q.limit(ACCOUNT_PAGE).all(txn).await?)
}

/// Walks the entries of a page of accounts in (account, sequence) order.
async fn check_accounts(txn: &DatabaseTransaction, accounts: &[account::Model], v: &mut Verification) -> Result<()> {
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
    let mut chains: BTreeMap<Uuid, Chain> = accounts.iter().map(|a| (a.id, Chain::new(a))).collect();
    let mut cursor: Option<(Uuid, i64)> = None;
    loop {
        let rows = entry_page(txn, &ids, cursor).await?;
        let Some(last) = rows.last() else { break };
        cursor = Some((last.account_id, last.sequence));
        for e in &rows {
            v.entries_checked += 1;
            if let Some(chain) = chains.get_mut(&e.account_id) {
                chain.check(e, v);
            }
        }
    }
    for chain in chains.values() {
        chain.finish(v);
    }
    check_held(txn, accounts, v).await?;
    v.accounts_checked += accounts.len() as u64;
    Ok(())
}

/// An account's `held_balance` must be the sum of its pending holds.
async fn check_held(txn: &DatabaseTransaction, accounts: &[account::Model], v: &mut Verification) -> Result<()> {
    let pending = hold::Entity::find()
        .filter(hold::Column::DebitAccountId.is_in(accounts.iter().map(|a| a.id)))
        .filter(hold::Column::Status.eq(crate::hold::STATUS_PENDING))
        .all(txn)
        .await?;
    let mut held: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for h in pending {
        *held.entry(h.debit_account_id).or_default() += h.amount.0;
    }
    for a in accounts {
        let expected = held.get(&a.id).copied().unwrap_or_default();
        if a.held_balance.0 != expected {
            let message = format!(
                "held balance {} differs from its pending holds, {expected}",
                a.held_balance
            );
            v.report(problem(Some(a.id), None, message));
        }
    }
    Ok(())
}

/// The next entries of the accounts in `ids` (sorted, consecutive in id
/// order), by keyset on the (account_id, sequence) index: the page's accounts
/// are exactly those in [first id, last id], so this is one index range scan.
async fn entry_page(txn: &DatabaseTransaction, ids: &[Uuid], cursor: Option<(Uuid, i64)>) -> Result<Vec<entry::Model>> {
    use entry::Column as C;
    use sea_orm::sea_query::{Expr, ExprTrait};
    let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
        return Ok(Vec::new());
    };
    let mut q = entry::Entity::find()
        .filter(C::AccountId.gte(*first))
        .filter(C::AccountId.lte(*last));
    if let Some((account, seq)) = cursor {
        let key = Expr::tuple([Expr::col(C::AccountId), Expr::col(C::Sequence)]);
        q = q.filter(key.gt(Expr::tuple([Expr::value(account), Expr::value(seq)])));
    }
    Ok(q.order_by_asc(C::AccountId)
        .order_by_asc(C::Sequence)
        .limit(ROW_PAGE)
        .all(txn)
        .await?)
}

/// The state of one account's walk.
struct Chain<'a> {
    account: &'a account::Model,
    next_sequence: i64,
    previous_hash: Vec<u8>,
    running: Decimal,
    broken: bool,
}

impl<'a> Chain<'a> {
    fn new(account: &'a account::Model) -> Self {
        Chain {
            account,
            next_sequence: 1,
            previous_hash: ZERO_HASH.to_vec(),
            running: Decimal::ZERO,
            broken: false,
        }
    }

    fn check(&mut self, e: &entry::Model, v: &mut Verification) {
        if self.broken {
            return;
        }
        if let Some((seq, message)) = self.first_fault(e) {
            self.broken = true;
            v.report(problem(Some(self.account.id), Some(seq), message));
            return;
        }
        self.running = e.balance_after.0;
        self.previous_hash = e.hash.clone();
        self.next_sequence += 1;
    }

    fn first_fault(&self, e: &entry::Model) -> Option<(i64, String)> {
        let expected = self.next_sequence;
        if e.sequence != expected {
            return Some((
                expected,
                format!("entry {expected} is missing (found entry {} next)", e.sequence),
            ));
        }
        if e.previous_hash != self.previous_hash {
            return Some((
                expected,
                "previous_hash does not match the previous entry's hash".into(),
            ));
        }
        let recomputed = entry_hash(&EntryFields {
            previous_hash: &e.previous_hash,
            account_id: e.account_id,
            sequence: e.sequence,
            transfer_id: e.transfer_id,
            amount: e.amount.0,
            balance_after: e.balance_after.0,
            created_at: e.created_at,
        });
        if e.hash != recomputed {
            return Some((
                expected,
                "hash does not match the entry's content (the entry was altered)".into(),
            ));
        }
        let running = self.running + e.amount.0;
        if running != e.balance_after.0 {
            return Some((
                expected,
                format!(
                    "balance_after is {} but the running balance is {running}",
                    e.balance_after
                ),
            ));
        }
        None
    }

    fn finish(&self, v: &mut Verification) {
        if self.broken {
            return;
        }
        let a = self.account;
        let last = self.next_sequence - 1;
        let fault = if a.entry_count != last {
            Some((
                last + 1,
                format!(
                    "account records {} entries but {last} exist (entries missing at the end)",
                    a.entry_count
                ),
            ))
        } else if a.balance.0 != self.running {
            Some((
                last,
                format!(
                    "stored balance {} differs from the running balance {}",
                    a.balance, self.running
                ),
            ))
        } else if a.head_hash != self.previous_hash {
            Some((last, "stored chain head differs from the last entry's hash".into()))
        } else {
            None
        };
        if let Some((seq, message)) = fault {
            v.report(problem(Some(a.id), Some(seq), message));
        }
    }
}

async fn check_transfers(txn: &DatabaseTransaction, v: &mut Verification) -> Result<()> {
    let mut after: Option<Uuid> = None;
    loop {
        let mut q = transfer::Entity::find().order_by_asc(transfer::Column::Id);
        if let Some(after) = after {
            q = q.filter(transfer::Column::Id.gt(after));
        }
        let transfers = q.limit(ROW_PAGE / 2).all(txn).await?;
        let Some(last) = transfers.last() else {
            return Ok(());
        };
        after = Some(last.id);
        let ids: Vec<Uuid> = transfers.iter().map(|t| t.id).collect();
        let entries = entry::Entity::find()
            .filter(entry::Column::TransferId.is_in(ids.iter().copied()))
            .all(txn)
            .await?;
        let mut by_transfer: BTreeMap<Uuid, Vec<&entry::Model>> = BTreeMap::new();
        for e in &entries {
            by_transfer.entry(e.transfer_id).or_default().push(e);
        }
        let sealed = crate::seal::audit::sealed_or_queued(txn, &ids).await?;
        for t in &transfers {
            v.transfers_checked += 1;
            let legs = by_transfer.get(&t.id).map_or(&[][..], Vec::as_slice);
            check_transfer(t, legs, v);
            check_transfer_hash(t, legs, sealed.contains(&t.id), v);
        }
    }
}

fn check_transfer(t: &transfer::Model, entries: &[&entry::Model], v: &mut Verification) {
    let sum: Decimal = entries.iter().map(|e| e.amount.0).sum();
    let leg = |account: Uuid, amount: Decimal| entries.iter().any(|e| e.account_id == account && e.amount.0 == amount);
    let message = if entries.len() != 2 {
        format!("transfer has {} entries, not 2", entries.len())
    } else if !sum.is_zero() {
        format!("entries of the transfer sum to {sum}, not zero")
    } else if !leg(t.debit_account_id, -t.amount.0) || !leg(t.credit_account_id, t.amount.0) {
        "entries do not match the transfer's accounts and amount".to_owned()
    } else {
        return;
    };
    let first = entries.first();
    v.report(Problem {
        account_id: first.map(|e| e.account_id),
        transfer_id: Some(t.id),
        sequence: first.map(|e| e.sequence),
        message,
    });
}

/// The stored transfer hash must match its content and entries, and every
/// transfer must be sealed or queued for sealing (else it was inserted
/// behind the ledger's back).
fn check_transfer_hash(t: &transfer::Model, legs: &[&entry::Model], known: bool, v: &mut Verification) {
    let mut ordered: Vec<&entry::Model> = legs.to_vec();
    ordered.sort_by_key(|e| e.amount.0);
    let hashes: Vec<&[u8]> = ordered.iter().map(|e| e.hash.as_slice()).collect();
    let report = |v: &mut Verification, message: &str| {
        v.report(Problem {
            account_id: None,
            transfer_id: Some(t.id),
            sequence: None,
            message: message.to_owned(),
        })
    };
    if !known {
        report(
            v,
            "transfer is neither sealed nor queued for sealing (inserted outside the ledger)",
        );
    }
    if t.hash.as_deref() != Some(&transfer_hash(t, &hashes)[..]) {
        report(
            v,
            "transfer hash does not match its content and entries (the transfer was altered)",
        );
    }
}

pub(crate) fn problem(account_id: Option<Uuid>, sequence: Option<i64>, message: String) -> Problem {
    Problem {
        account_id,
        transfer_id: None,
        sequence,
        message,
    }
}
