//! Input checks shared by every operation: malformed input is refused with
//! INVALID_INPUT before anything is read or written (and is never recorded
//! under an idempotency key).

use serde_json::Value;

use crate::model::error::{ErrorCode, LedgerError, Result};

/// The reserved prefix of each currency's system account code (`world:USD`).
pub const WORLD_PREFIX: &str = "world:";
/// The reserved prefix of each currency's exchange account (`exchange:USD`).
pub const EXCHANGE_PREFIX: &str = "exchange:";

const MAX_CODE_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 1000;
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Deep enough for any real document; shallow enough that every reader
/// (serde_json's 128-level limit among them) takes it back.
const MAX_METADATA_DEPTH: usize = 32;

pub fn account_code(code: &str) -> Result<()> {
    storable("account code", code)?;
    let len = code.chars().count();
    if len == 0 || len > MAX_CODE_LEN || code.trim() != code {
        return Err(invalid(format!(
            "account code must be 1 to {MAX_CODE_LEN} characters without surrounding spaces"
        )));
    }
    if let Some(prefix) = [WORLD_PREFIX, EXCHANGE_PREFIX]
        .into_iter()
        .find(|p| code.starts_with(p))
    {
        return Err(invalid(format!(
            "account codes starting with \"{prefix}\" are reserved"
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
    match value {
        Some(v) => metadata_limits(v),
        None => Ok(()),
    }
}

fn metadata_limits(value: &Value) -> Result<()> {
    let shape = shape(value);
    if shape.nul {
        return Err(invalid("metadata must not contain the character U+0000".into()));
    }
    if shape.depth > MAX_METADATA_DEPTH {
        return Err(invalid(format!(
            "metadata may nest at most {MAX_METADATA_DEPTH} levels of arrays and objects"
        )));
    }
    match value.to_string().len() > MAX_METADATA_BYTES {
        true => Err(invalid(format!(
            "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"
        ))),
        false => Ok(()),
    }
}

/// An accounts filter: a code prefix of 1–255 characters; metadata to match
/// as an object of objects and scalars (arrays would match differently on
/// the two backends: PostgreSQL's containment takes any subset of an
/// array), within the metadata limits.
pub fn account_filter(code_prefix: Option<&str>, metadata: Option<&Value>) -> Result<()> {
    if let Some(prefix) = code_prefix {
        storable("codePrefix", prefix)?;
        if prefix.is_empty() || prefix.chars().count() > MAX_CODE_LEN {
            return Err(invalid(format!("codePrefix must be 1 to {MAX_CODE_LEN} characters")));
        }
    }
    let Some(value) = metadata else { return Ok(()) };
    metadata_limits(value)?;
    if !value.is_object() {
        return Err(invalid("the metadata filter must be a JSON object".into()));
    }
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(_) => {
                return Err(invalid(
                    "the metadata filter may hold objects and scalars, not arrays".into(),
                ));
            }
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    Ok(())
}

/// PostgreSQL text cannot hold U+0000, so no backend accepts it: the same
/// request gets the same answer on SQLite and on PostgreSQL.
pub fn storable(field: &str, text: &str) -> Result<()> {
    match text.contains('\0') {
        true => Err(invalid(format!("{field} must not contain the character U+0000"))),
        false => Ok(()),
    }
}

struct Shape {
    depth: usize,
    nul: bool,
}

/// How deep `value` nests and whether any of its text holds U+0000, found
/// with an explicit stack: the request decides the depth, and a recursive
/// walk could overflow the thread's stack.
fn shape(value: &Value) -> Shape {
    let mut shape = Shape { depth: 0, nul: false };
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        shape.depth = shape.depth.max(depth);
        match v {
            Value::String(s) => shape.nul |= s.contains('\0'),
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => {
                shape.nul |= map.keys().any(|k| k.contains('\0'));
                stack.extend(map.values().map(|i| (i, depth + 1)));
            }
            _ => {}
        }
    }
    shape
}

fn invalid(message: String) -> LedgerError {
    LedgerError::client(ErrorCode::InvalidInput, message)
}
