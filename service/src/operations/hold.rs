//! Holds (two-phase transfers): funds reserved on the debit account until
//! captured (all or part; the rest is released), voided, or expired.
//!
//! Invariants: an account's `held_balance` is the sum of its PENDING holds;
//! every funds check uses `balance - held_balance`; a hold leaves PENDING
//! exactly once. Expired holds are released by a worker in every instance,
//! which claims due holds with `FOR UPDATE SKIP LOCKED`, so instances share
//! the work and never process one hold twice.
//!
//! Owns: hold requests and the expiry worker. Uses: rules, storage
//! (`repo.rs` holds every hold statement), the posting engine.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::idempotency::{Fingerprint, IdempotencyKey};
use crate::model::request::{Action, Effect, Mode, Request};
use crate::model::time::now_micros;
use crate::model::validate;
use crate::posting;
use crate::store::ledger::Ledger;

/// How many due holds one worker pass releases.
const EXPIRY_BATCH: u64 = 100;

pub struct NewHold {
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: Decimal,
    pub idempotency_key: String,
    pub expires_at: DateTime<Utc>,
    pub description: Option<String>,
    pub metadata: Option<Value>,
}

pub async fn create(ledger: &Ledger, new: NewHold) -> Result<Effect> {
    if new.from_account_id == new.to_account_id {
        return Err(LedgerError::client(
            ErrorCode::SameAccount,
            "fromAccountId and toAccountId are the same",
        ));
    }
    if new.expires_at <= Utc::now() {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            "expiresAt must be in the future",
        ));
    }
    crate::model::money::positive(new.amount)?;
    validate::description(new.description.as_deref())?;
    validate::metadata(new.metadata.as_ref())?;
    let fingerprint = Fingerprint::new("HOLD")
        .uuid(new.from_account_id)
        .uuid(new.to_account_id)
        .decimal(new.amount)
        .time(new.expires_at)
        .text(new.description.as_deref())
        .json(new.metadata.as_ref())
        .finish();
    let action = Action::Hold {
        from: new.from_account_id,
        to: new.to_account_id,
        amount: new.amount,
        expires_at: new.expires_at,
    };
    let key = Some(IdempotencyKey::parse(new.idempotency_key)?);
    posting::run_one(
        ledger,
        Request {
            action,
            key,
            fingerprint,
            description: new.description,
            metadata: new.metadata,
            effective_at: None,
        },
    )
    .await
}

/// Posts `amount` (default: all) of the hold and releases the rest.
pub async fn capture(ledger: &Ledger, hold_id: Uuid, amount: Option<Decimal>, key: String) -> Result<Effect> {
    if let Some(a) = amount {
        crate::model::money::positive(a)?;
    }
    let mut fp = Fingerprint::new("CAPTURE").uuid(hold_id);
    if let Some(a) = amount {
        fp = fp.decimal(a);
    }
    let request = Request {
        action: Action::Capture { hold_id, amount },
        key: Some(IdempotencyKey::parse(key)?),
        fingerprint: fp.finish(),
        description: None,
        metadata: None,
        effective_at: None,
    };
    posting::run_one(ledger, request).await
}

pub async fn void(ledger: &Ledger, hold_id: Uuid, key: String) -> Result<Effect> {
    let request = Request {
        action: Action::Void { hold_id },
        key: Some(IdempotencyKey::parse(key)?),
        fingerprint: Fingerprint::new("VOID").uuid(hold_id).finish(),
        description: None,
        metadata: None,
        effective_at: None,
    };
    posting::run_one(ledger, request).await
}

/// One worker pass: releases up to a batch of due holds; returns how many.
pub async fn expire_due(ledger: &Ledger) -> Result<usize> {
    let due = crate::store::hold::due(ledger, now_micros(), EXPIRY_BATCH).await?;
    if due.is_empty() {
        return Ok(0); // no write transaction (on SQLite: no write lock) for an idle pass
    }
    let requests: Vec<Request> = due
        .into_iter()
        .map(|hold_id| Request {
            action: Action::Expire { hold_id },
            key: None,
            fingerprint: [0; 32],
            description: None,
            metadata: None,
            effective_at: None,
        })
        .collect();
    let outcomes = posting::run(ledger, &requests, Mode::Independent).await?;
    Ok(outcomes
        .into_iter()
        .filter(|o| o.as_ref().is_ok_and(|e| e.hold.is_some()))
        .count())
}

/// Runs [`expire_due`] every `every` until the process ends.
pub fn spawn_expiry_worker(ledger: Ledger, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut outage = crate::store::outage::Outage::new("hold expiry", every);
        loop {
            let wait = match expire_due(&ledger).await {
                Ok(n) => {
                    outage.succeeded();
                    if n > 0 {
                        tracing::info!(released = n, "expired holds released");
                    }
                    every
                }
                Err(e) => outage.failed(&e),
            };
            tokio::time::sleep(wait).await;
        }
    })
}
