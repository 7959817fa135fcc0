//! Currencies: a code and its scale (ISO 4217 minor units). A currency's
//! scale never changes once created, which is why it may be cached.

use sea_orm::{ConnectionTrait, EntityTrait};

use crate::error::{ErrorCode, LedgerError, Result};
use crate::ledger::Ledger;
use entity::currency;

/// The scale of `code`, or UNKNOWN_CURRENCY.
pub async fn scale_of(ledger: &Ledger, db: &impl ConnectionTrait, code: &str) -> Result<u32> {
    if let Some(scale) = cached(ledger, code) {
        return Ok(scale);
    }
    let row = currency::Entity::find_by_id(code.to_owned())
        .one(db)
        .await?;
    let row = row.ok_or_else(|| {
        LedgerError::client(
            ErrorCode::UnknownCurrency,
            format!("unknown currency \"{code}\""),
        )
    })?;
    let scale = u32::try_from(row.scale)
        .map_err(|_| LedgerError::Internal(format!("negative scale for {code}")))?;
    if let Ok(mut scales) = ledger.cache.scales.write() {
        scales.insert(code.to_owned(), scale);
    }
    Ok(scale)
}

fn cached(ledger: &Ledger, code: &str) -> Option<u32> {
    ledger.cache.scales.read().ok()?.get(code).copied()
}
