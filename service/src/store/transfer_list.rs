//! `transfers(accountId, kind, from, to, first, after)`: newest-last keyset
//! pages over transfer ids (UUID v7, so id order is creation order).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::page::Page;
use crate::store::ledger::Ledger;
use entity::TransferKind;
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

pub async fn page(
    ledger: &Ledger,
    filter: TransferFilter,
    after: Option<Uuid>,
    first: u64,
) -> Result<Page<transfer::Model>> {
    let mut cond = Condition::all();
    if let Some(id) = filter.account_id {
        cond = cond.add(
            Condition::any()
                .add(Column::DebitAccountId.eq(id))
                .add(Column::CreditAccountId.eq(id)),
        );
    }
    if let Some(kind) = filter.kind {
        cond = cond.add(Column::Kind.eq(kind.as_str()));
    }
    if let Some(from) = filter.from {
        cond = cond.add(Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        cond = cond.add(Column::CreatedAt.lt(to));
    }
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
