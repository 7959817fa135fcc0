//! Account lifecycle: version-checked updates, archiving, merging.
//!
//! `update` is a compare-and-swap on the version the client last read
//! (VERSION_CONFLICT when someone changed the account first). Archive and
//! merge move money, so they run through the posting engine.

use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::idempotency::{Fingerprint, IdempotencyKey};
use crate::model::request::{Action, Effect, Request};
use crate::model::{money, validate};
use crate::posting;
use crate::store::account::{self as repo, not_found};
use crate::store::currency;
use crate::store::ledger::Ledger;
use entity::AccountStatus;
use entity::{Money, account};

/// Fields to change; `None` leaves a field as it is.
pub struct AccountUpdate {
    pub id: Uuid,
    pub expected_version: i64,
    pub min_balance: Option<Decimal>,
    pub metadata: Option<Value>,
}

pub async fn update(ledger: &Ledger, u: AccountUpdate) -> Result<account::Model> {
    validate::metadata(u.metadata.as_ref())?;
    let row = crate::store::db::retrying(|| update_once(ledger, &u)).await?;
    ledger.feed().publish([row.id]);
    Ok(row)
}

async fn update_once(ledger: &Ledger, u: &AccountUpdate) -> Result<account::Model> {
    let w = ledger.begin_write().await?;
    let mut row = repo::lock(&w.txn, vec![u.id])
        .await?
        .pop()
        .ok_or_else(|| not_found(&u.id.to_string()))?;
    if row.version != u.expected_version {
        return Err(LedgerError::client(
            ErrorCode::VersionConflict,
            format!(
                "account {} is at version {}, not {}",
                u.id, row.version, u.expected_version
            ),
        ));
    }
    if row.status != AccountStatus::Active {
        return Err(LedgerError::client(
            ErrorCode::AccountArchived,
            format!("account {} is archived", u.id),
        ));
    }
    if let Some(floor) = u.min_balance {
        if row.is_system {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                "a system account has no floor",
            ));
        }
        let scale = currency::scale_of(ledger, &w.txn, &row.currency).await?;
        row.min_balance = Some(Money(money::signed_at_scale(floor, scale)?));
    }
    if u.metadata.is_some() {
        row.metadata = u.metadata.clone();
    }
    let read = row.version;
    row.version += 1;
    repo::compare_and_swap(&w.txn, &row, read).await?;
    w.txn.commit().await?;
    Ok(row)
}

/// Archives `id`: refused while it holds money or pending holds, unless
/// `sweep_to` is given, which voids its holds and moves its whole balance there.
pub async fn archive(ledger: &Ledger, id: Uuid, sweep_to: Option<Uuid>, key: String) -> Result<Effect> {
    let mut fp = Fingerprint::new("ARCHIVE").uuid(id);
    if let Some(to) = sweep_to {
        fp = fp.uuid(to);
    }
    lifecycle(ledger, Action::Archive { account: id, sweep_to }, fp, key).await
}

/// Moves the whole balance of `source` to `target` and archives `source`, atomically.
pub async fn merge(ledger: &Ledger, source: Uuid, target: Uuid, key: String) -> Result<Effect> {
    if source == target {
        return Err(LedgerError::client(
            ErrorCode::SameAccount,
            "an account cannot be merged into itself",
        ));
    }
    let fp = Fingerprint::new("MERGE").uuid(source).uuid(target);
    lifecycle(
        ledger,
        Action::Archive {
            account: source,
            sweep_to: Some(target),
        },
        fp,
        key,
    )
    .await
}

async fn lifecycle(ledger: &Ledger, action: Action, fp: Fingerprint, key: String) -> Result<Effect> {
    let key = Some(IdempotencyKey::parse(key)?);
    let request = Request {
        action,
        key,
        fingerprint: fp.finish(),
        description: None,
        metadata: None,
        effective_at: None,
    };
    posting::run_one(ledger, request).await
}
