//! Currencies: a code and its scale (ISO 4217 minor units). A currency's
//! scale never changes once created, which is why it may be cached.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel};

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::store::ledger::Ledger;
use entity::{account, currency};

/// The scale of `code`, or UNKNOWN_CURRENCY.
pub async fn scale_of(ledger: &Ledger, db: &impl ConnectionTrait, code: &str) -> Result<u32> {
    if let Some(scale) = ledger.cache.scales.get(code) {
        return Ok(scale);
    }
    let row = currency::Entity::find_by_id(code.to_owned()).one(db).await?;
    let row =
        row.ok_or_else(|| LedgerError::client(ErrorCode::UnknownCurrency, format!("unknown currency \"{code}\"")))?;
    let scale = u32::try_from(row.scale).map_err(|_| LedgerError::Internal(format!("negative scale for {code}")))?;
    ledger.cache.scales.insert([(code.to_owned(), scale)]);
    Ok(scale)
}

/// Creates a custom asset (points, tokens…): code of 1–16 characters from
/// A–Z, 0–9 and `_`, scale 0–18.
pub async fn create(ledger: &Ledger, code: String, scale: i32) -> Result<currency::Model> {
    let valid_code = (1..=16).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid_code {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            "currency code must be 1 to 16 of A-Z, 0-9, _",
        ));
    }
    if !(0..=crate::model::money::MAX_SCALE as i32).contains(&scale) {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            "scale must be between 0 and 18",
        ));
    }
    let row = currency::Model {
        code,
        scale,
        created_at: crate::model::time::now_micros(),
    };
    let inserted = currency::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(ledger.connection())
        .await;
    match inserted {
        Ok(_) => Ok(row),
        Err(e) if crate::model::error::is_unique_violation(&e) => Err(LedgerError::client(
            ErrorCode::DuplicateCurrency,
            format!("currency {} already exists", row.code),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(ledger: &Ledger) -> Result<Vec<currency::Model>> {
    use sea_orm::QueryOrder;
    Ok(currency::Entity::find()
        .order_by_asc(currency::Column::Code)
        .all(ledger.connection())
        .await?)
}

/// The scale of every currency among `accounts` (cached; a miss costs a read).
pub(crate) async fn scales_of(
    ledger: &Ledger,
    db: &impl ConnectionTrait,
    accounts: &[account::Model],
) -> Result<HashMap<String, u32>> {
    let mut scales = HashMap::new();
    for a in accounts {
        if !scales.contains_key(&a.currency) {
            let scale = scale_of(ledger, db, &a.currency).await?;
            scales.insert(a.currency.clone(), scale);
        }
    }
    Ok(scales)
}
