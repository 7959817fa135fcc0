//! Step 1 of the engine: outcomes already recorded under the postings' keys.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::{Outcome, Posting};
use crate::error::{ErrorCode, LedgerError, Result};
use entity::{idempotency, transfer};

/// For each posting: `Some(outcome)` when its key is already recorded.
pub(super) async fn recorded_outcomes(
    txn: &DatabaseTransaction,
    postings: &[Posting],
) -> Result<Vec<Option<Outcome>>> {
    let keys: Vec<String> = postings.iter().map(|p| p.key.as_str().to_owned()).collect();
    let records: HashMap<String, idempotency::Model> = idempotency::Entity::find()
        .filter(idempotency::Column::Key.is_in(keys))
        .all(txn)
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    if records.is_empty() {
        return Ok(postings.iter().map(|_| None).collect());
    }
    let transfers = recorded_transfers(txn, records.values()).await?;
    Ok(postings
        .iter()
        .map(|p| {
            records
                .get(p.key.as_str())
                .map(|r| replay(p, r, &transfers))
        })
        .collect())
}

async fn recorded_transfers(
    txn: &DatabaseTransaction,
    records: impl Iterator<Item = &idempotency::Model>,
) -> Result<HashMap<uuid::Uuid, transfer::Model>> {
    let ids: Vec<uuid::Uuid> = records.filter_map(|r| r.transfer_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = transfer::Entity::find()
        .filter(transfer::Column::Id.is_in(ids))
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|t| (t.id, t)).collect())
}

fn replay(
    posting: &Posting,
    record: &idempotency::Model,
    transfers: &HashMap<uuid::Uuid, transfer::Model>,
) -> Outcome {
    if record.fingerprint != posting.fingerprint {
        return Err(key_reused(posting.key.as_str()));
    }
    match (record.transfer_id, &record.error_code) {
        (Some(id), _) => transfers
            .get(&id)
            .cloned()
            .ok_or_else(|| LedgerError::Internal(format!("recorded transfer {id} missing"))),
        (None, Some(code)) => Err(LedgerError::client(
            ErrorCode::parse(code).unwrap_or(ErrorCode::Internal),
            record.error_message.clone().unwrap_or_default(),
        )),
        (None, None) => Err(LedgerError::Internal(format!(
            "empty record for key {}",
            record.key
        ))),
    }
}

pub(super) fn key_reused(key: &str) -> LedgerError {
    LedgerError::client(
        ErrorCode::IdempotencyKeyReused,
        format!("idempotency key \"{key}\" was already used for a different request"),
    )
}
