//! Input checks shared by every operation: malformed input is refused with
//! INVALID_INPUT before anything is read or written (and is never recorded
//! under an idempotency key).

use serde_json::Value;

use crate::error::{ErrorCode, LedgerError, Result};

/// The reserved prefix of each currency's system account code (`world:USD`).
pub const WORLD_PREFIX: &str = "world:";

const MAX_CODE_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 1000;
const MAX_METADATA_BYTES: usize = 16 * 1024;

pub fn account_code(code: &str) -> Result<()> {
    storable("account code", code)?;
    let len = code.chars().count();
    if len == 0 || len > MAX_CODE_LEN || code.trim() != code {
        return Err(invalid(format!(
            "account code must be 1 to {MAX_CODE_LEN} characters without surrounding spaces"
        )));
    }
    if code.starts_with(WORLD_PREFIX) {
        return Err(invalid(format!(
            "account codes starting with \"{WORLD_PREFIX}\" are reserved"
        )));
    }
    Ok(())
}

/// An account owner (a token subject): 1–255 characters, storable.
pub fn owner(owner: &str) -> Result<()> {
    storable("owner", owner)?;
    match owner.chars().count() {
        1..=MAX_CODE_LEN => Ok(()),
        _ => Err(invalid(format!("owner must be 1 to {MAX_CODE_LEN} characters"))),
    }
}

pub fn description(text: Option<&str>) -> Result<()> {
    if let Some(t) = text {
        storable("description", t)?;
    }
    match text {
        Some(t) if t.chars().count() > MAX_DESCRIPTION_LEN => Err(invalid(format!(
            "description must be at most {MAX_DESCRIPTION_LEN} characters"
        ))),
        _ => Ok(()),
    }
}

pub fn metadata(value: Option<&Value>) -> Result<()> {
    if value.is_some_and(holds_nul) {
        return Err(invalid("metadata must not contain the character U+0000".into()));
    }
    match value {
        Some(v) if v.to_string().len() > MAX_METADATA_BYTES => Err(invalid(format!(
            "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"
        ))),
        _ => Ok(()),
    }
}

/// PostgreSQL text cannot hold U+0000, so no backend accepts it: the same
/// request gets the same answer on SQLite and on PostgreSQL.
pub fn storable(field: &str, text: &str) -> Result<()> {
    match text.contains('\0') {
        true => Err(invalid(format!("{field} must not contain the character U+0000"))),
        false => Ok(()),
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn invalid(message: String) -> LedgerError {
    LedgerError::client(ErrorCode::InvalidInput, message)
}
