//! Idempotency in the engine, whole: which outcomes a key records (a
//! success, a business refusal; malformed input leaves the key free), how
//! a second request under a key decided earlier in the same run gets that
//! answer, and step 1 of a run — outcomes already recorded under the
//! requests' keys, replayed. The key and the fingerprint themselves are
//! rules (`model::idempotency`); which codes are recorded is a property of
//! each code (`model::error`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
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

/// Rebuilds what each successful recorded request did: its transfers (the
/// ids its record lists, read by primary key), its hold and account as
/// they stand now, and the accounts it touched. One query each for
/// transfers, holds and accounts, for all the records together (a retried
/// batch of 100 costs 3 queries, not 300).
async fn recorded_effects(
    txn: &DatabaseTransaction,
    records: &HashMap<String, idempotency::Model>,
) -> Result<HashMap<String, Effect>> {
    let done: Vec<&idempotency::Model> = records.values().filter(|r| r.error_code.is_none()).collect();
    let lists: Vec<Vec<Uuid>> = done.iter().map(|r| transfer_ids(r)).collect::<Result<_>>()?;
    let mut transfers =
        by_id::<transfer::Entity>(txn, transfer::Column::Id, lists.iter().flatten().copied(), |t| t.id).await?;
    let hold_ids = done.iter().filter_map(|r| r.hold_id);
    let holds = by_id::<hold::Entity>(txn, hold::Column::Id, hold_ids, |h| h.id).await?;
    let mut effects: Vec<(&idempotency::Model, Effect, BTreeSet<Uuid>)> = Vec::with_capacity(done.len());
    for (r, list) in done.into_iter().zip(lists) {
        let transfers = list
            .iter()
            .map(|id| {
                transfers.remove(id).ok_or_else(|| {
                    LedgerError::Internal(format!("integrity: transfer {id} of key \"{}\" is missing", r.key))
                })
            })
            .collect::<Result<Vec<_>>>()?;
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

/// The transfers a record's outcome made, in order: its first, then the
/// rest (16 bytes each).
fn transfer_ids(r: &idempotency::Model) -> Result<Vec<Uuid>> {
    let more = r.more_transfer_ids.as_deref().unwrap_or_default();
    let rest = more.chunks(16).map(Uuid::from_slice);
    let rest = rest
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| LedgerError::Internal(format!("integrity: key \"{}\" lists a malformed transfer id", r.key)))?;
    Ok(r.transfer_id.into_iter().chain(rest).collect())
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

/// What a key led to earlier in this run, to answer a repeat of it.
#[derive(Clone)]
pub(super) enum Seen {
    Done(Box<Effect>),
    Refused(ErrorCode, String),
}

/// What `outcome` records under `key`: the answer for a repeat in this run
/// and the row for later runs. `None` for malformed input, which leaves its
/// key free: a corrected request under it is evaluated afresh, exactly as
/// it would be in a later run.
pub(super) fn record(
    req: &Request,
    key: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Option<(Seen, idempotency::Model)> {
    match outcome {
        Ok(effect) => Some((
            Seen::Done(Box::new(effect.clone())),
            idempotency::Model {
                transfer_id: effect.transfers.first().map(|t| t.id),
                more_transfer_ids: (effect.transfers.len() > 1)
                    .then(|| effect.transfers[1..].iter().flat_map(|t| *t.id.as_bytes()).collect()),
                hold_id: effect.hold.as_ref().map(|h| h.id),
                account_id: effect.account.as_ref().map(|a| a.id),
                ..blank_record(key, req, now)
            },
        )),
        Err(e) if e.code().is_recorded() => Some((
            Seen::Refused(e.code(), e.to_string()),
            idempotency::Model {
                error_code: Some(e.code().as_str().to_owned()),
                error_message: Some(e.to_string()),
                ..blank_record(key, req, now)
            },
        )),
        Err(_) => None,
    }
}

fn blank_record(key: &str, req: &Request, now: DateTime<Utc>) -> idempotency::Model {
    idempotency::Model {
        key: key.to_owned(),
        fingerprint: req.fingerprint.to_vec(),
        transfer_id: None,
        more_transfer_ids: None,
        hold_id: None,
        account_id: None,
        error_code: None,
        error_message: None,
        created_at: now,
    }
}

/// The answer to a request under `key`, which this run already decided.
pub(super) fn repeat(key: &str, req: &Request, fingerprint: &[u8; 32], seen: &Seen) -> Outcome {
    if fingerprint != &req.fingerprint {
        return Err(key_reused(key));
    }
    match seen {
        Seen::Done(effect) => Ok(effect.as_ref().clone()),
        Seen::Refused(code, msg) => Err(LedgerError::client(*code, msg.clone())),
    }
}
