//! Step 1 of the engine: outcomes already recorded under the requests' keys.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{Effect, Outcome, Request};
use crate::error::{ErrorCode, LedgerError, Result};
use entity::{account, hold, idempotency, transfer};

/// For each request: `Some(outcome)` when its key is already recorded.
pub(super) async fn recorded_outcomes(txn: &DatabaseTransaction, requests: &[Request]) -> Result<Vec<Option<Outcome>>> {
    let keys: Vec<String> = requests
        .iter()
        .filter_map(|r| r.key.as_ref().map(|k| k.as_str().to_owned()))
        .collect();
    let records: HashMap<String, idempotency::Model> = match keys.is_empty() {
        true => HashMap::new(),
        false => idempotency::Entity::find()
            .filter(idempotency::Column::Key.is_in(keys))
            .all(txn)
            .await?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect(),
    };
    let mut outcomes = Vec::with_capacity(requests.len());
    for req in requests {
        let record = req.key.as_ref().and_then(|k| records.get(k.as_str()));
        outcomes.push(match record {
            Some(r) => Some(replay(txn, req, r).await),
            None => None,
        });
    }
    Ok(outcomes)
}

async fn replay(txn: &DatabaseTransaction, req: &Request, record: &idempotency::Model) -> Outcome {
    if record.fingerprint != req.fingerprint {
        return Err(key_reused(&record.key));
    }
    if let Some(code) = &record.error_code {
        let code = ErrorCode::parse(code).unwrap_or(ErrorCode::Internal);
        return Err(LedgerError::client(
            code,
            record.error_message.clone().unwrap_or_default(),
        ));
    }
    recorded_effect(txn, record).await
}

/// Rebuilds what the request did: its transfers (all share its key), its
/// hold and account as they stand now, and the accounts it touched.
async fn recorded_effect(txn: &DatabaseTransaction, record: &idempotency::Model) -> Outcome {
    let transfers = match record.transfer_id {
        Some(_) => {
            transfer::Entity::find()
                .filter(transfer::Column::IdempotencyKey.eq(record.key.as_str()))
                .order_by_asc(transfer::Column::Id)
                .all(txn)
                .await?
        }
        None => Vec::new(),
    };
    let hold = match record.hold_id {
        Some(id) => hold::Entity::find_by_id(id).one(txn).await?,
        None => None,
    };
    let mut ids: BTreeSet<Uuid> = transfers
        .iter()
        .flat_map(|t| [t.debit_account_id, t.credit_account_id])
        .collect();
    ids.extend(hold.iter().flat_map(|h| [h.debit_account_id, h.credit_account_id]));
    ids.extend(record.account_id);
    let accounts = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .order_by_asc(account::Column::Id)
        .all(txn)
        .await?;
    let account = record
        .account_id
        .and_then(|id| accounts.iter().find(|a| a.id == id).cloned());
    Ok(Effect {
        transfers,
        hold,
        account,
        accounts,
    })
}

pub(super) fn key_reused(key: &str) -> LedgerError {
    LedgerError::client(
        ErrorCode::IdempotencyKeyReused,
        format!("idempotency key \"{key}\" was already used for a different request"),
    )
}
