//! API keys: who may call the API, and with what scope.
//!
//! A key is `tally_` followed by 43 characters of base64url (32 random
//! bytes). It is shown once, when created; the database keeps only its
//! SHA-256 (a key has 256 bits of entropy, so a fast hash is enough: there
//! is nothing to guess) and its first characters, to tell keys apart in a
//! listing. Revoking stamps `revoked_at`; a key is never deleted, so a ledger
//! that ever had a key keeps requiring one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::time::now_micros;
use crate::store::ledger::Ledger;
use entity::api_key::{self, Column};

/// What a key may do; each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Queries and subscriptions only.
    Read,
    /// Also moves money: deposits, withdrawals, transfers, batches, splits,
    /// reversals, holds.
    Write,
    /// Also creates accounts and currencies, updates, archives and merges
    /// accounts, and runs `verifyLedger`.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

const PREFIX: &str = "tally_";
/// Characters of a key kept in clear (the `tally_` prefix and six more).
const SHOWN: usize = PREFIX.len() + 6;

/// SHA-256 of a presented key: what is stored and looked up.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Creates a key; returns its row and the secret, which is never stored.
pub async fn create(ledger: &Ledger, name: &str, scope: Scope) -> Result<(api_key::Model, String)> {
    crate::model::validate::storable("name", name)?;
    if name.is_empty() || name.chars().count() > 255 {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            "key name must be 1 to 255 characters",
        ));
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| LedgerError::Internal(format!("no randomness: {e}")))?;
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    let row = api_key::Model {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        scope: scope.as_str().to_owned(),
        key_hash: hash(&secret).to_vec(),
        key_prefix: secret.chars().take(SHOWN).collect(),
        created_at: now_micros(),
        revoked_at: None,
    };
    match api_key::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(ledger.connection())
        .await
    {
        Ok(_) => Ok((row, secret)),
        Err(e) if crate::model::error::is_unique_violation(&e) => Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("a key named \"{name}\" already exists"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every key, oldest first, revoked ones included.
pub async fn list(ledger: &Ledger) -> Result<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .order_by_asc(Column::Id)
        .all(ledger.connection())
        .await?)
}

/// Whether any key was ever created: from then on every request needs one.
pub async fn any(ledger: &Ledger) -> Result<bool> {
    Ok(api_key::Entity::find().count(ledger.connection()).await? > 0)
}

/// The key whose secret hashes to `key_hash`, revoked or not.
pub async fn by_hash(ledger: &Ledger, key_hash: &[u8; 32]) -> Result<Option<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(Column::KeyHash.eq(key_hash.to_vec()))
        .one(ledger.connection())
        .await?)
}

/// Revokes the key named `name_or_id` (its name or its id); revoking twice
/// keeps the first time.
pub async fn revoke(ledger: &Ledger, name_or_id: &str) -> Result<api_key::Model> {
    let by = match Uuid::parse_str(name_or_id) {
        Ok(id) => Column::Id.eq(id),
        Err(_) => Column::Name.eq(name_or_id),
    };
    let found = api_key::Entity::find().filter(by).one(ledger.connection()).await?;
    let Some(key) = found else {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("no key is named \"{name_or_id}\""),
        ));
    };
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut active = key.into_active_model();
    active.revoked_at = sea_orm::Set(Some(now_micros()));
    Ok(active.update(ledger.connection()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_order_by_power() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert!(Scope::Read < Scope::Write && Scope::Write < Scope::Admin);
        assert_eq!(Scope::parse("root"), None);
    }
}
