//! Hold storage: statuses, lookups and the compare-and-swap of a settlement.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::store::ledger::Ledger;
use entity::hold::{self, Column};

pub async fn get(ledger: &Ledger, id: Uuid) -> Result<hold::Model> {
    let found = hold::Entity::find_by_id(id).one(ledger.connection()).await?;
    found.ok_or_else(|| not_found(id))
}

pub async fn by_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<hold::Model>> {
    Ok(hold::Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(ledger.connection())
        .await?)
}

pub(crate) fn not_found(id: Uuid) -> LedgerError {
    LedgerError::client(ErrorCode::HoldNotFound, format!("hold {id} not found"))
}

/// Writes a hold's settlement only if nobody changed it since `read_version`.
pub(crate) async fn compare_and_swap(txn: &DatabaseTransaction, row: &hold::Model, read_version: i64) -> Result<()> {
    let result = hold::Entity::update_many()
        .col_expr(Column::Status, Expr::value(row.status))
        .col_expr(Column::CapturedAmount, Expr::value(row.captured_amount))
        .col_expr(Column::Version, Expr::value(row.version))
        .col_expr(Column::UpdatedAt, Expr::value(row.updated_at))
        .filter(Column::Id.eq(row.id))
        .filter(Column::Version.eq(read_version))
        .exec(txn)
        .await?;
    match result.rows_affected {
        1 => Ok(()),
        _ => Err(LedgerError::Conflict),
    }
}

/// Up to `limit` pending holds due at `now`, soonest first (a plain read:
/// the engine locks and rechecks each one it releases).
pub async fn due(ledger: &Ledger, now: chrono::DateTime<chrono::Utc>, limit: u64) -> Result<Vec<Uuid>> {
    Ok(hold::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Status.eq(entity::HoldStatus::Pending))
        .filter(Column::ExpiresAt.lte(now))
        .order_by_asc(Column::ExpiresAt)
        .limit(limit)
        .into_tuple()
        .all(ledger.connection())
        .await?)
}
