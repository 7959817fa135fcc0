//! Accounts: creation, lookups and pages.
//!
//! Invariants: `code` is unique; a client code never starts with `world:`
//! (reserved for each currency's system account, which is created with the
//! currency's first account and has no floor); balances are only ever changed
//! by the posting engine; an ARCHIVED account stays readable and never moves
//! money again.

mod lifecycle;
pub(crate) mod repo;

pub use lifecycle::{AccountUpdate, archive, merge, update};

use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use crate::currency;
use crate::error::{ErrorCode, LedgerError, Result};
use crate::ledger::Ledger;
use crate::money;
use crate::page::Page;
use crate::validate;
use entity::account::{self, Column};

pub const WORLD_PREFIX: &str = "world:";
pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_ARCHIVED: &str = "ARCHIVED";

/// What a client asks for when opening an account.
pub struct NewAccount {
    pub code: String,
    pub currency: String,
    /// The floor; `None` means the default of zero.
    pub min_balance: Option<Decimal>,
    pub metadata: Option<Value>,
    /// The end user the account belongs to: a token whose `sub` equals it
    /// may act on the account (1–255 characters).
    pub owner: Option<String>,
}

pub async fn create(ledger: &Ledger, new: NewAccount) -> Result<account::Model> {
    validate::account_code(&new.code)?;
    validate::metadata(new.metadata.as_ref())?;
    if let Some(owner) = &new.owner {
        validate::owner(owner)?;
    }
    let db = ledger.connection();
    let scale = currency::scale_of(ledger, db, &new.currency).await?;
    let floor = money::signed_at_scale(new.min_balance.unwrap_or_default(), scale)?;
    let row = repo::new_row(&new, scale, Some(floor));
    crate::db::retrying(|| repo::insert_with_world(ledger, row.clone(), scale)).await
}

pub async fn get(ledger: &Ledger, id: Uuid) -> Result<account::Model> {
    let found = account::Entity::find_by_id(id).one(ledger.connection()).await?;
    found.ok_or_else(|| not_found(&id.to_string()))
}

pub async fn by_code(ledger: &Ledger, code: &str) -> Result<account::Model> {
    let found = account::Entity::find()
        .filter(Column::Code.eq(code))
        .one(ledger.connection())
        .await?;
    found.ok_or_else(|| not_found(code))
}

pub async fn by_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<account::Model>> {
    let rows = account::Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(ledger.connection())
        .await?;
    Ok(rows)
}

/// Accounts in id (= creation) order after `after`. One statement, so one
/// snapshot: the balances of a page always sum consistently.
pub async fn page(ledger: &Ledger, after: Option<Uuid>, first: u64) -> Result<Page<account::Model>> {
    let mut query = account::Entity::find().order_by_asc(Column::Id);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    let rows = query.limit(first + 1).all(ledger.connection()).await?;
    Ok(Page::forward(rows, first, after.is_some()))
}

pub(crate) fn not_found(what: &str) -> LedgerError {
    LedgerError::client(ErrorCode::AccountNotFound, format!("account {what} not found"))
}
