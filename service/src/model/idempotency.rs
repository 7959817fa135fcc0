//! Idempotency keys and request fingerprints.
//!
//! A key names one outcome forever. The fingerprint is SHA-256 over the
//! canonical request (operation, accounts, amount without trailing zeros,
//! description, metadata as canonical JSON with sorted keys), so "10" and
//! "10.00" are the same request and any other difference is a new request.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::hash::{Canonical, HASH_LEN, canonical_json};

const MAX_KEY_LEN: usize = 255;

/// A validated idempotency key: 1–255 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(key: String) -> Result<Self> {
        let len = key.chars().count();
        if len == 0 || len > MAX_KEY_LEN {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                format!("idempotencyKey must be 1 to {MAX_KEY_LEN} characters, got {len}"),
            ));
        }
        crate::model::validate::storable("idempotencyKey", &key)?;
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Builds a request fingerprint: the operation name, then its fields in a
/// fixed order through the canonical (length-prefixed) encoding.
pub(crate) struct Fingerprint(Canonical);

impl Fingerprint {
    pub(crate) fn new(operation: &str) -> Self {
        let mut c = Canonical::new(b"tally.request.v1");
        c.text(operation);
        Fingerprint(c)
    }

    pub(crate) fn uuid(mut self, id: Uuid) -> Self {
        self.0.uuid(id);
        self
    }

    /// Trailing zeros do not matter: "10" and "10.00" are the same amount.
    pub(crate) fn decimal(mut self, value: Decimal) -> Self {
        self.0.decimal(value.normalize());
        self
    }

    pub(crate) fn time(mut self, at: DateTime<Utc>) -> Self {
        self.0.time(at);
        self
    }

    pub(crate) fn text(mut self, text: Option<&str>) -> Self {
        self.0.optional(text.map(str::as_bytes));
        self
    }

    pub(crate) fn json(mut self, value: Option<&Value>) -> Self {
        self.0.optional(value.map(canonical_json).as_deref().map(str::as_bytes));
        self
    }

    pub(crate) fn finish(self) -> [u8; HASH_LEN] {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_change_canonical_json() {
        let a: Value = serde_json::json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
    }

    #[test]
    fn keys_must_be_1_to_255_characters() {
        assert!(IdempotencyKey::parse(String::new()).is_err());
        assert!(IdempotencyKey::parse("k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("k".repeat(255)).is_ok());
    }
}
