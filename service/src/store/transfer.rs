//! Transfer reads: by id, by idempotency key, by ids, reversals.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::store::ledger::Ledger;
use entity::{idempotency, transfer};

pub async fn get(ledger: &Ledger, id: Uuid) -> Result<transfer::Model> {
    let found = transfer::Entity::find_by_id(id).one(ledger.connection()).await?;
    found.ok_or_else(|| not_found(&id.to_string()))
}

/// The (first) transfer recorded under `key`: its idempotency record names
/// it (no index by key on `transfer`).
pub async fn by_idempotency_key(ledger: &Ledger, key: &str) -> Result<transfer::Model> {
    let record = idempotency::Entity::find_by_id(key).one(ledger.connection()).await?;
    match record.and_then(|r| r.transfer_id) {
        Some(id) => get(ledger, id).await,
        None => Err(not_found(&format!("with idempotency key \"{key}\""))),
    }
}

pub async fn by_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<transfer::Model>> {
    let rows = transfer::Entity::find()
        .filter(transfer::Column::Id.is_in(ids.iter().copied()))
        .all(ledger.connection())
        .await?;
    Ok(rows)
}

/// The reversals of each of `ids`, oldest first.
pub async fn reversals_of(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<transfer::Model>> {
    let rows = transfer::Entity::find()
        .filter(transfer::Column::ReversalOf.is_in(ids.iter().copied()))
        .order_by_asc(transfer::Column::Id)
        .all(ledger.connection())
        .await?;
    Ok(rows)
}

pub(crate) fn not_found(what: &str) -> LedgerError {
    LedgerError::client(ErrorCode::TransferNotFound, format!("transfer {what} not found"))
}
