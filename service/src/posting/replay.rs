//! Step 1 of the engine: outcomes already recorded under the requests' keys.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::request::{Effect, Outcome, Request};
use entity::{account, hold, idempotency, transfer};

/// For each request: `Some(outcome)` when its key is already recorded.
/// Whatever the number of recorded keys, this costs at most four queries.
pub(super) async fn recorded_outcomes(txn: &DatabaseTransaction, requests: &[Request]) -> Result<Vec<Option<Outcome>>> {
    let records = recorded(txn, requests).await?;
    let effects = recorded_effects(txn, &records).await?;
    Ok(requests
        .iter()
        .map(|req| {
            let record = req.key.as_ref().and_then(|k| records.get(k.as_str()));
            record.map(|r| replay(req, r, &effects))
        })
        .collect())
}

/// The idempotency records of the requests' keys, by key (one query; none for no keys).
pub(super) async fn recorded(
    txn: &DatabaseTransaction,
    requests: &[Request],
) -> Result<HashMap<String, idempotency::Model>> {
    let keys: Vec<String> = requests
        .iter()
        .filter_map(|r| r.key.as_ref().map(|k| k.as_str().to_owned()))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = idempotency::Entity::find()
        .filter(idempotency::Column::Key.is_in(keys))
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.key.clone(), r)).collect())
}

fn replay(req: &Request, record: &idempotency::Model, effects: &HashMap<String, Effect>) -> Outcome {
    if record.fingerprint != req.fingerprint {
        return Err(key_reused(&record.key));
    }
    if let Some(stored) = &record.error_code {
        return Err(recorded_refusal(record, stored));
    }
    effects
        .get(&record.key)
        .cloned()
        .ok_or_else(|| LedgerError::Internal(format!("no recorded effect for key \"{}\"", record.key)))
}

/// The refusal a record holds. A stored code that is not a recorded
/// refusal, or a refusal without its message, was not written by this
/// engine: an integrity error, never a plausible-looking answer.
fn recorded_refusal(record: &idempotency::Model, stored: &str) -> LedgerError {
    let code = ErrorCode::parse(stored).filter(|c| c.is_recorded());
    match (code, &record.error_message) {
        (Some(code), Some(message)) => LedgerError::client(code, message.clone()),
        _ => LedgerError::Internal(format!(
            "integrity: idempotency record \"{}\" holds error code {stored:?} with message {:?}",
            record.key, record.error_message
        )),
    }
}

/// Rebuilds what each successful recorded request did: its transfers (all
/// share its key), its hold and account as they stand now, and the accounts
/// it touched. One query each for transfers, holds and accounts, for all the
/// records together (a retried batch of 100 costs 3 queries, not 300).
async fn recorded_effects(
    txn: &DatabaseTransaction,
    records: &HashMap<String, idempotency::Model>,
) -> Result<HashMap<String, Effect>> {
    let done: Vec<&idempotency::Model> = records.values().filter(|r| r.error_code.is_none()).collect();
    let keys: Vec<&str> = done
        .iter()
        .filter(|r| r.transfer_id.is_some())
        .map(|r| r.key.as_str())
        .collect();
    let mut transfers: HashMap<String, Vec<transfer::Model>> = HashMap::new();
    if !keys.is_empty() {
        let rows = transfer::Entity::find()
            .filter(transfer::Column::IdempotencyKey.is_in(keys))
            .order_by_asc(transfer::Column::Id)
            .all(txn)
            .await?;
        for t in rows {
            transfers.entry(t.idempotency_key.clone()).or_default().push(t);
        }
    }
    let hold_ids = done.iter().filter_map(|r| r.hold_id);
    let holds = by_id::<hold::Entity>(txn, hold::Column::Id, hold_ids, |h| h.id).await?;
    let mut effects: Vec<(&idempotency::Model, Effect, BTreeSet<Uuid>)> = Vec::with_capacity(done.len());
    for r in done {
        let transfers = match r.transfer_id {
            Some(_) => transfers.remove(&r.key).unwrap_or_default(),
            None => Vec::new(),
        };
        let hold = r.hold_id.and_then(|id| holds.get(&id).cloned());
        let mut ids: BTreeSet<Uuid> = transfers
            .iter()
            .flat_map(|t| [t.debit_account_id, t.credit_account_id])
            .collect();
        ids.extend(hold.iter().flat_map(|h| [h.debit_account_id, h.credit_account_id]));
        ids.extend(r.account_id);
        let effect = Effect {
            transfers,
            hold,
            account: None,
            accounts: Vec::new(),
        };
        effects.push((r, effect, ids));
    }
    let all: BTreeSet<Uuid> = effects.iter().flat_map(|(_, _, ids)| ids.iter().copied()).collect();
    let accounts = by_id::<account::Entity>(txn, account::Column::Id, all, |a| a.id).await?;
    Ok(effects
        .into_iter()
        .map(|(r, mut effect, ids)| {
            effect.account = r.account_id.and_then(|id| accounts.get(&id).cloned());
            effect.accounts = ids.iter().filter_map(|id| accounts.get(id).cloned()).collect();
            (r.key.clone(), effect)
        })
        .collect())
}

/// The rows whose `column` is one of `ids`, by id (no query for no ids).
async fn by_id<E: EntityTrait>(
    txn: &DatabaseTransaction,
    column: E::Column,
    ids: impl IntoIterator<Item = Uuid>,
    id: fn(&E::Model) -> Uuid,
) -> Result<HashMap<Uuid, E::Model>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = E::find().filter(column.is_in(ids)).all(txn).await?;
    Ok(rows.into_iter().map(|row| (id(&row), row)).collect())
}

pub(super) fn key_reused(key: &str) -> LedgerError {
    LedgerError::client(
        ErrorCode::IdempotencyKeyReused,
        format!("idempotency key \"{key}\" was already used for a different request"),
    )
}
