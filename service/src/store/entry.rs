//! Entries: an account's history in sequence order, read by keyset pages, and
//! balances at a point in time.
//!
//! Invariants: sequences are 1..n per account with no gaps; `created_at`
//! never decreases along an account's sequence (the engine writes
//! max(now, previous entry's time)), so "the last entry at or before t" is one
//! probe of the (account_id, created_at, sequence) index.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::money;
use crate::model::page::{Page, Window};
use crate::store::ledger::Ledger;
use entity::entry::{self, Column};

pub async fn page(ledger: &Ledger, account_id: Uuid, window: Window) -> Result<Page<entry::Model>> {
    let query = entry::Entity::find().filter(Column::AccountId.eq(account_id));
    let db = ledger.connection();
    match window {
        Window::Forward { after, first } => {
            let query = match after {
                Some(seq) => query.filter(Column::Sequence.gt(seq)),
                None => query,
            };
            let rows = query.order_by_asc(Column::Sequence).limit(first + 1).all(db).await?;
            Ok(Page::forward(rows, first, after.is_some_and(|s| s >= 1)))
        }
        Window::Backward { before, last } => {
            let query = match before {
                Some(seq) => query.filter(Column::Sequence.lt(seq)),
                None => query,
            };
            let rows = query.order_by_desc(Column::Sequence).limit(last + 1).all(db).await?;
            Ok(Page::backward(rows, last, before.is_some()))
        }
    }
}

/// The account's balance just after its last entry at or before `at`
/// (zero before its first entry), at the currency's scale.
pub async fn balance_at(ledger: &Ledger, account_id: Uuid, at: DateTime<Utc>, scale: u32) -> Result<Decimal> {
    let last = entry::Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::CreatedAt.lte(at))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Sequence)
        .limit(1)
        .one(ledger.connection())
        .await?;
    Ok(last.map_or_else(|| money::zero(scale), |e| e.balance_after.0))
}

/// The account's balance at `at` by effective time: every movement that
/// took effect at or before `at`, however late it was committed. Exact:
/// the balance committed by then (above), plus the backdated entries
/// committed after `at` that took effect by it. Backdated entries are the
/// only ones with an `effective_at` (never later than their commit), so a
/// partial index holds just them and ordinary entries cost nothing here.
pub async fn balance_at_effective(ledger: &Ledger, account_id: Uuid, at: DateTime<Utc>, scale: u32) -> Result<Decimal> {
    let committed = balance_at(ledger, account_id, at, scale).await?;
    let late: Vec<entity::Money> = entry::Entity::find()
        .select_only()
        .column(Column::Amount)
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::EffectiveAt.is_not_null())
        .filter(Column::EffectiveAt.lte(at))
        .filter(Column::CreatedAt.gt(at))
        .into_tuple()
        .all(ledger.connection())
        .await?;
    late.into_iter().try_fold(committed, |sum, amount| {
        sum.checked_add(amount.0)
            .ok_or_else(|| crate::model::error::LedgerError::Internal("balance out of range".into()))
    })
}

pub async fn by_transfer_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<entry::Model>> {
    let rows = entry::Entity::find()
        .filter(Column::TransferId.is_in(ids.iter().copied()))
        .order_by_asc(Column::Id)
        .all(ledger.connection())
        .await?;
    Ok(rows)
}
