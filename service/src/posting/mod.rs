//! The posting engine: the only code that moves money.
//!
//! Every money operation is a list of postings run through [`post`] in one
//! database transaction:
//! 1. Replay: keys already recorded return their recorded outcome (or
//!    IDEMPOTENCY_KEY_REUSED for a different request under the key).
//! 2. Lock: every touched account, `SELECT … FOR UPDATE`, ascending id order.
//! 3. Apply in memory, in order ([`book::Book`]): a refused posting touches nothing.
//! 4. Write back: one compare-and-swap per changed account, then
//!    `insert_many` for transfers, entries and idempotency records.
//! 5. Commit.
//!
//! Deadlocks, serialization failures, busy SQLite files, a concurrent twin
//! taking the same key, and CAS misses rerun the whole operation (bounded).

mod book;
mod replay;

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::account::repo;
use crate::currency;
use crate::db;
use crate::error::Result;
use crate::hash::HASH_LEN;
use crate::idempotency::IdempotencyKey;
use crate::ledger::Ledger;
use crate::transfer::TransferKind;
use book::Book;
use entity::{account, transfer};

/// One side of a posting: a client account, or the world account of the
/// other side's currency (deposits and withdrawals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Account(Uuid),
    World,
}

/// One requested movement of money, validated for shape but not yet for state.
#[derive(Clone, Debug)]
pub(crate) struct Posting {
    pub(crate) kind: TransferKind,
    pub(crate) debit: Side,
    pub(crate) credit: Side,
    pub(crate) amount: Decimal,
    pub(crate) key: IdempotencyKey,
    pub(crate) fingerprint: [u8; HASH_LEN],
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
}

/// Each posting's own outcome: its transfer or its coded refusal.
pub(crate) type Outcome = Result<transfer::Model>;

pub(crate) async fn post(ledger: &Ledger, postings: &[Posting]) -> Result<Vec<Outcome>> {
    db::retrying(|| post_once(ledger, postings)).await
}

async fn post_once(ledger: &Ledger, postings: &[Posting]) -> Result<Vec<Outcome>> {
    let w = ledger.begin_write().await?;
    let txn = &w.txn;
    let mut outcomes = replay::recorded_outcomes(txn, postings).await?;
    let pending: Vec<usize> = (0..postings.len())
        .filter(|i| outcomes[*i].is_none())
        .collect();
    if pending.is_empty() {
        return finish(outcomes);
    }
    let sides = resolve_sides(ledger, txn, postings, &pending).await?;
    let ids: BTreeSet<Uuid> = sides
        .values()
        .flat_map(|(d, c)| [*d, *c])
        .flatten()
        .collect();
    let locked = repo::lock(txn, ids.into_iter().collect()).await?;
    let scales = scales_of(ledger, txn, &locked).await?;
    let mut book = Book::new(locked, scales);
    for i in pending {
        let (debit, credit) = sides.get(&i).copied().unwrap_or((None, None));
        outcomes[i] = Some(book.apply(&postings[i], debit, credit));
    }
    book.write(txn).await?;
    w.txn.commit().await?;
    finish(outcomes)
}

fn finish(outcomes: Vec<Option<Outcome>>) -> Result<Vec<Outcome>> {
    Ok(outcomes.into_iter().flatten().collect())
}

type ResolvedSides = HashMap<usize, (Option<Uuid>, Option<Uuid>)>;

/// Turns `Side::World` into the world account of the other side's currency.
/// A side whose account does not exist resolves to `None` (refused later).
async fn resolve_sides(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    postings: &[Posting],
    pending: &[usize],
) -> Result<ResolvedSides> {
    let needs_currency: Vec<Uuid> = pending
        .iter()
        .filter_map(|i| match (postings[*i].debit, postings[*i].credit) {
            (Side::World, Side::Account(id)) | (Side::Account(id), Side::World) => Some(id),
            _ => None,
        })
        .collect();
    let currencies = currencies_of(txn, needs_currency).await?;
    let mut sides = HashMap::new();
    for &i in pending {
        let p = &postings[i];
        let other = |side: Side| match side {
            Side::Account(id) => currencies.get(&id).cloned(),
            Side::World => None,
        };
        let debit = resolve(ledger, txn, p.debit, other(p.credit)).await?;
        let credit = resolve(ledger, txn, p.credit, other(p.debit)).await?;
        sides.insert(i, (debit, credit));
    }
    Ok(sides)
}

async fn resolve(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    side: Side,
    other_currency: Option<String>,
) -> Result<Option<Uuid>> {
    match (side, other_currency) {
        (Side::Account(id), _) => Ok(Some(id)),
        (Side::World, Some(cur)) => Ok(Some(repo::world_id(ledger, txn, &cur).await?)),
        (Side::World, None) => Ok(None),
    }
}

/// Currencies never change, so an unlocked read is enough to pick a world account.
async fn currencies_of(txn: &DatabaseTransaction, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|a| (a.id, a.currency)).collect())
}

async fn scales_of(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    accounts: &[account::Model],
) -> Result<HashMap<String, u32>> {
    let mut scales = HashMap::new();
    for a in accounts {
        if !scales.contains_key(&a.currency) {
            let scale = currency::scale_of(ledger, txn, &a.currency).await?;
            scales.insert(a.currency.clone(), scale);
        }
    }
    Ok(scales)
}
