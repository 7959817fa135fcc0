//! Deposits, withdrawals and transfers: validated requests handed to the
//! posting engine, plus transfer lookups.
//!
//! Invariants: a transfer is written once with its two entries and never
//! changed; each idempotency key has at most one outcome.

use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ErrorCode, LedgerError, Result};
use crate::idempotency::{IdempotencyKey, RequestFields, fingerprint};
use crate::ledger::Ledger;
use crate::money;
use crate::posting::{self, Posting, Side};
use crate::validate;
use entity::transfer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    Deposit,
    Withdrawal,
    Transfer,
}

impl TransferKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "DEPOSIT",
            Self::Withdrawal => "WITHDRAWAL",
            Self::Transfer => "TRANSFER",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        [Self::Deposit, Self::Withdrawal, Self::Transfer]
            .into_iter()
            .find(|k| k.as_str() == kind)
    }
}

/// Money in or out of one account, against its currency's world account.
#[derive(Clone, Debug)]
pub struct Movement {
    pub account_id: Uuid,
    pub amount: Decimal,
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Option<Value>,
}

/// Money from one account to another.
#[derive(Clone, Debug)]
pub struct TransferRequest {
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: Decimal,
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Option<Value>,
}

pub async fn deposit(ledger: &Ledger, m: Movement) -> Result<transfer::Model> {
    let account = Side::Account(m.account_id);
    let details = Details::from(m.clone());
    post_one(ledger, TransferKind::Deposit, Side::World, account, details).await
}

pub async fn withdraw(ledger: &Ledger, m: Movement) -> Result<transfer::Model> {
    let account = Side::Account(m.account_id);
    let details = Details::from(m.clone());
    post_one(
        ledger,
        TransferKind::Withdrawal,
        account,
        Side::World,
        details,
    )
    .await
}

pub async fn transfer(ledger: &Ledger, r: TransferRequest) -> Result<transfer::Model> {
    if r.from_account_id == r.to_account_id {
        return Err(LedgerError::client(
            ErrorCode::SameAccount,
            "fromAccountId and toAccountId are the same",
        ));
    }
    let (from, to) = (
        Side::Account(r.from_account_id),
        Side::Account(r.to_account_id),
    );
    let details = Details {
        amount: r.amount,
        key: r.idempotency_key,
        description: r.description,
        metadata: r.metadata,
    };
    post_one(ledger, TransferKind::Transfer, from, to, details).await
}

struct Details {
    amount: Decimal,
    key: String,
    description: Option<String>,
    metadata: Option<Value>,
}

impl From<Movement> for Details {
    fn from(m: Movement) -> Self {
        Details {
            amount: m.amount,
            key: m.idempotency_key,
            description: m.description,
            metadata: m.metadata,
        }
    }
}

async fn post_one(
    ledger: &Ledger,
    kind: TransferKind,
    debit: Side,
    credit: Side,
    d: Details,
) -> Result<transfer::Model> {
    let posting = posting(kind, debit, credit, d)?;
    let outcome = posting::post(ledger, std::slice::from_ref(&posting)).await?;
    outcome
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(LedgerError::Internal("engine returned no outcome".into())))
}

/// Shape checks (key, amount sign and magnitude, text sizes) and the fingerprint.
fn posting(kind: TransferKind, debit: Side, credit: Side, d: Details) -> Result<Posting> {
    let key = IdempotencyKey::parse(d.key)?;
    money::amount_at_scale(d.amount, money::MAX_SCALE)?;
    validate::description(d.description.as_deref())?;
    validate::metadata(d.metadata.as_ref())?;
    let accounts: Vec<Uuid> = [debit, credit]
        .into_iter()
        .filter_map(|s| match s {
            Side::Account(id) => Some(id),
            Side::World => None,
        })
        .collect();
    let fingerprint = fingerprint(&RequestFields {
        operation: kind.as_str(),
        accounts: &accounts,
        amount: d.amount,
        description: d.description.as_deref(),
        metadata: d.metadata.as_ref(),
    });
    Ok(Posting {
        kind,
        debit,
        credit,
        amount: d.amount,
        key,
        fingerprint,
        description: d.description,
        metadata: d.metadata,
    })
}

pub async fn get(ledger: &Ledger, id: Uuid) -> Result<transfer::Model> {
    let found = transfer::Entity::find_by_id(id)
        .one(ledger.connection())
        .await?;
    found.ok_or_else(|| not_found(&id.to_string()))
}

pub async fn by_idempotency_key(ledger: &Ledger, key: &str) -> Result<transfer::Model> {
    let found = transfer::Entity::find()
        .filter(transfer::Column::IdempotencyKey.eq(key))
        .one(ledger.connection())
        .await?;
    found.ok_or_else(|| not_found(&format!("with idempotency key \"{key}\"")))
}

pub async fn by_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<transfer::Model>> {
    let rows = transfer::Entity::find()
        .filter(transfer::Column::Id.is_in(ids.iter().copied()))
        .all(ledger.connection())
        .await?;
    Ok(rows)
}

fn not_found(what: &str) -> LedgerError {
    LedgerError::client(
        ErrorCode::TransferNotFound,
        format!("transfer {what} not found"),
    )
}
