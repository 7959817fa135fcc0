//! `transfers(accountId, kind, from, to, first, after)`: newest-last keyset
//! pages. Over all transfers, in transfer id order (UUID v7, so id order is
//! creation order). Over one account's, in the order the account saw them:
//! its entries' sequence, read through the entries' primary key (account,
//! sequence) — so a transfer needs no index by debit or by credit account
//! (migration 14 dropped both: two index entries per transfer), and a page
//! of a busy account costs the page, not every transfer the account has.

use chrono::{DateTime, Utc};
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Asterisk, Expr, Order, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::page::Page;
use crate::store::ledger::Ledger;
use entity::TransferKind;
use entity::entry;
use entity::transfer::{self, Column};

#[derive(Clone, Debug, Default)]
pub struct TransferFilter {
    /// Transfers debiting or crediting this account.
    pub account_id: Option<Uuid>,
    pub kind: Option<TransferKind>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// The filter's `kind`, `from` and `to` (on the transfer's own columns).
fn conditions(filter: &TransferFilter) -> Condition {
    let mut cond = Condition::all();
    if let Some(kind) = filter.kind {
        cond = cond.add(Column::Kind.eq(kind.as_str()));
    }
    if let Some(from) = filter.from {
        cond = cond.add(Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        cond = cond.add(Column::CreatedAt.lt(to));
    }
    cond
}

pub async fn page(
    ledger: &Ledger,
    filter: TransferFilter,
    after: Option<Uuid>,
    first: u64,
) -> Result<Page<transfer::Model>> {
    if let Some(account) = filter.account_id {
        return of_account(ledger, account, &filter, after, first).await;
    }
    let mut cond = conditions(&filter);
    if let Some(after) = after {
        cond = cond.add(Column::Id.gt(after));
    }
    let rows = transfer::Entity::find()
        .filter(cond)
        .order_by_asc(Column::Id)
        .limit(first + 1)
        .all(ledger.connection())
        .await?;
    Ok(Page::forward(rows, first, after.is_some()))
}

/// One account's transfers after the transfer `after` (one of its own), in
/// its entries' order.
async fn of_account(
    ledger: &Ledger,
    account: Uuid,
    filter: &TransferFilter,
    after: Option<Uuid>,
    first: u64,
) -> Result<Page<transfer::Model>> {
    let db = ledger.connection();
    let from_sequence = match after {
        None => 0,
        // The cursor transfer records where its entry on this account sits.
        Some(cursor) => transfer::Entity::find_by_id(cursor)
            .one(db)
            .await?
            .and_then(|t| match account {
                a if a == t.debit_account_id => t.debit_sequence,
                a if a == t.credit_account_id => t.credit_sequence,
                _ => None,
            })
            .ok_or_else(|| {
                LedgerError::client(
                    ErrorCode::InvalidInput,
                    format!("cursor: transfer {cursor} is not one of account {account}'s"),
                )
            })?,
    };
    let (e, t) = (entry::Entity, transfer::Entity);
    let mut q = Query::select();
    q.column((t, Asterisk))
        .from(e)
        .inner_join(t, Expr::col((t, Column::Id)).equals((e, entry::Column::TransferId)))
        .and_where(Expr::col((e, entry::Column::AccountId)).eq(account))
        .and_where(Expr::col((e, entry::Column::Sequence)).gt(from_sequence))
        .cond_where(conditions(filter));
    q.order_by((e, entry::Column::Sequence), Order::Asc).limit(first + 1);
    let stmt = db.get_database_backend().build(&q);
    let rows = transfer::Entity::find().from_raw_sql(stmt).all(db).await?;
    Ok(Page::forward(rows, first, after.is_some()))
}
