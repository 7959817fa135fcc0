//! Money movements between accounts — deposits, withdrawals, transfers,
//! batches, splits and reversals — as validated requests for the posting
//! engine, plus transfer lookups and lists.
//!
//! Invariants: a transfer is written once with its two entries and never
//! changed; each idempotency key has at most one outcome; the reversals of
//! a transfer never add up to more than it.
//!
//! Owns: money requests shaped for the engine. Uses: rules (`kind.rs`, the
//! kinds), storage (`repo.rs` and `list.rs`, the reads), the posting engine.

use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::idempotency::{Fingerprint, IdempotencyKey};
use crate::model::money;
use crate::model::request::{Action, Effect, Mode, Price, Request, Rounding, Side};
use crate::model::validate;
use crate::posting;
use crate::store::ledger::Ledger;
use entity::TransferKind;
use entity::transfer;

/// The most items one `postTransfers` call may carry.
pub const MAX_BATCH: usize = 1000;
/// The most parts one split may have.
pub const MAX_PARTS: usize = 1000;

/// Free-form details every money request may carry.
#[derive(Clone, Debug, Default)]
pub struct Details {
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Option<Value>,
    /// When the movement took effect, for imported history: not in the
    /// future (who may backdate how far is the caller's rule).
    pub effective_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Money in or out of one account, against its currency's world account.
#[derive(Clone, Debug)]
pub struct Movement {
    pub account_id: Uuid,
    pub amount: Decimal,
    pub details: Details,
}

/// Money from one account to another.
#[derive(Clone, Debug)]
pub struct TransferRequest {
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: Decimal,
    pub details: Details,
}

pub async fn deposit(ledger: &Ledger, m: Movement) -> Result<transfer::Model> {
    let r = movement(
        TransferKind::Deposit,
        Side::World,
        Side::Account(m.account_id),
        m.amount,
        m.details,
    )?;
    posting::run_one(ledger, r).await?.into_transfer()
}

pub async fn withdraw(ledger: &Ledger, m: Movement) -> Result<transfer::Model> {
    let r = movement(
        TransferKind::Withdrawal,
        Side::Account(m.account_id),
        Side::World,
        m.amount,
        m.details,
    )?;
    posting::run_one(ledger, r).await?.into_transfer()
}

pub async fn transfer(ledger: &Ledger, t: TransferRequest) -> Result<transfer::Model> {
    posting::run_one(ledger, transfer_request(t)?).await?.into_transfer()
}

/// Up to [`MAX_BATCH`] transfers in one database transaction. Atomic: all or
/// nothing, and a refusal is `LedgerError::Item` naming the item. Otherwise
/// one outcome per item, in order.
pub async fn post_batch(ledger: &Ledger, items: Vec<TransferRequest>, atomic: bool) -> Result<Vec<Result<Effect>>> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("a batch holds 1 to {MAX_BATCH} transfers, got {}", items.len()),
        ));
    }
    let shaped: Vec<Result<Request>> = items.into_iter().map(transfer_request).collect();
    if atomic {
        let requests = shaped
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                r.map_err(|e| LedgerError::Item {
                    index,
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        return posting::run(ledger, &requests, Mode::Atomic).await;
    }
    let valid: Vec<Request> = shaped.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut posted = posting::run(ledger, &valid, Mode::Independent).await?.into_iter();
    Ok(shaped
        .into_iter()
        .map(|r| match r {
            Ok(_) => posted
                .next()
                .unwrap_or_else(|| Err(LedgerError::Internal("missing batch outcome".into()))),
            Err(e) => Err(e),
        })
        .collect())
}

pub struct SplitRequest {
    pub from_account_id: Uuid,
    pub amount: Decimal,
    /// (account, weight) pairs; the amount is divided by weight.
    pub parts: Vec<(Uuid, Decimal)>,
    pub details: Details,
}

/// Divides `amount` over the parts (largest remainder, see `posting::allocate`);
/// one transfer per part that receives anything, all under one key.
pub async fn split(ledger: &Ledger, s: SplitRequest) -> Result<Effect> {
    if s.parts.is_empty() || s.parts.len() > MAX_PARTS {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("a split has 1 to {MAX_PARTS} parts"),
        ));
    }
    if s.parts.iter().any(|(id, _)| *id == s.from_account_id) {
        return Err(LedgerError::client(
            ErrorCode::SameAccount,
            "a split cannot pay its own source account",
        ));
    }
    if s.parts.iter().any(|(_, w)| *w <= Decimal::ZERO) {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            "every part needs a positive weight",
        ));
    }
    money::positive(s.amount)?;
    let mut fp = Fingerprint::new("SPLIT").uuid(s.from_account_id).decimal(s.amount);
    for (id, weight) in &s.parts {
        fp = fp.uuid(*id).decimal(*weight);
    }
    let action = Action::Split {
        from: s.from_account_id,
        amount: s.amount,
        parts: s.parts,
    };
    posting::run_one(ledger, request(action, fp, s.details)?).await
}

/// A compensating transfer of `amount` (default: what is left) of `transfer_id`.
pub async fn reverse(
    ledger: &Ledger,
    transfer_id: Uuid,
    amount: Option<Decimal>,
    details: Details,
) -> Result<transfer::Model> {
    if let Some(a) = amount {
        money::positive(a)?;
    }
    let mut fp = Fingerprint::new("REVERSE").uuid(transfer_id);
    if let Some(a) = amount {
        fp = fp.decimal(a);
    }
    let r = request(Action::Reverse { transfer_id, amount }, fp, details)?;
    posting::run_one(ledger, r).await?.into_transfer()
}

fn transfer_request(t: TransferRequest) -> Result<Request> {
    if t.from_account_id == t.to_account_id {
        return Err(LedgerError::client(
            ErrorCode::SameAccount,
            "fromAccountId and toAccountId are the same",
        ));
    }
    movement(
        TransferKind::Transfer,
        Side::Account(t.from_account_id),
        Side::Account(t.to_account_id),
        t.amount,
        t.details,
    )
}

fn movement(kind: TransferKind, debit: Side, credit: Side, amount: Decimal, details: Details) -> Result<Request> {
    money::positive(amount)?;
    let mut fp = Fingerprint::new(kind.as_str());
    for side in [debit, credit] {
        if let Side::Account(id) = side {
            fp = fp.uuid(id);
        }
    }
    request(
        Action::Move {
            kind,
            debit,
            credit,
            amount,
        },
        fp.decimal(amount),
        details,
    )
}

/// An exchange between accounts of two currencies.
#[derive(Clone, Debug)]
pub struct ExchangeRequest {
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    /// In the source account's currency.
    pub amount: Decimal,
    /// Target units per source unit (exactly one of `rate`, `quote_amount`).
    pub rate: Option<Decimal>,
    /// The exact amount the target account receives.
    pub quote_amount: Option<Decimal>,
    pub rounding: Rounding,
    pub details: Details,
}

/// Converts `amount` of the source account's currency into the target
/// account's currency, through both currencies' exchange accounts, in one
/// run (see `posting::exchange` for the rule).
pub async fn exchange(ledger: &Ledger, e: ExchangeRequest) -> Result<Effect> {
    if e.from_account_id == e.to_account_id {
        return Err(LedgerError::client(
            ErrorCode::SameAccount,
            "fromAccountId and toAccountId are the same",
        ));
    }
    money::positive(e.amount)?;
    let price = match (e.rate, e.quote_amount) {
        (None, None) => {
            return Err(LedgerError::client(
                ErrorCode::RateRequired,
                "an exchange needs a rate or a quoteAmount",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                "give a rate or a quoteAmount, not both",
            ));
        }
        (Some(rate), None) if rate <= Decimal::ZERO => {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                "the rate must be positive",
            ));
        }
        (Some(rate), None) => Price::Rate(rate),
        (None, Some(quote)) => {
            money::positive(quote)?;
            Price::Quote(quote)
        }
    };
    let fp = Fingerprint::new("EXCHANGE")
        .uuid(e.from_account_id)
        .uuid(e.to_account_id)
        .decimal(e.amount)
        .text(Some(e.rounding.as_str()));
    let fp = match price {
        Price::Rate(r) => fp.text(Some("rate")).decimal(r),
        Price::Quote(q) => fp.text(Some("quote")).decimal(q),
    };
    let action = Action::Exchange {
        from: e.from_account_id,
        to: e.to_account_id,
        amount: e.amount,
        price,
        rounding: e.rounding,
    };
    posting::run_one(ledger, request(action, fp, e.details)?).await
}

/// Shape checks shared by every money request, and the final fingerprint.
fn request(action: Action, fp: Fingerprint, d: Details) -> Result<Request> {
    let key = IdempotencyKey::parse(d.idempotency_key)?;
    validate::description(d.description.as_deref())?;
    validate::metadata(d.metadata.as_ref())?;
    let mut fp = fp.text(d.description.as_deref()).json(d.metadata.as_ref());
    if let Some(at) = d.effective_at {
        if at > crate::model::time::now_micros() {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                format!("effectiveAt {} is in the future", at.to_rfc3339()),
            ));
        }
        // Only backdated requests carry it, so older fingerprints are unchanged.
        fp = fp.time(at);
    }
    Ok(Request {
        action,
        key: Some(key),
        fingerprint: fp.finish(),
        description: d.description,
        metadata: d.metadata,
        effective_at: d.effective_at,
    })
}
