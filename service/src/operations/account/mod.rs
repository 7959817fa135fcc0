//! Accounts: creation, lookups and pages.
//!
//! Invariants: `code` is unique; a client code never starts with `world:`
//! (reserved for each currency's system account, which is created with the
//! currency's first account and has no floor); balances are only ever changed
//! by the posting engine; an ARCHIVED account stays readable and never moves
//! money again.

//!
//! Owns: account creation and lifecycle. Uses: rules, storage (`repo.rs`
//! holds every account statement), the posting engine for money.

mod lifecycle;

pub use lifecycle::{AccountUpdate, archive, merge, update};

use crate::model::error::Result;
use crate::model::money;
use crate::model::validate;
use crate::store::account as repo;
use crate::store::account::NewAccount;
use crate::store::currency;
use crate::store::ledger::Ledger;
use entity::account;

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
    crate::store::db::retrying(|| repo::insert_with_world(ledger, row.clone(), scale)).await
}
