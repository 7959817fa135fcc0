//! SHA-256 over a canonical, unambiguous encoding.
//!
//! Every field is written as a 4-byte big-endian length followed by its bytes,
//! in a fixed order, after a domain tag; so no two different field lists can
//! encode to the same bytes ("1"+"23" and "12"+"3" differ by their lengths).
//! Decimals are their text at the currency's scale ("12.50"), UUIDs their 16
//! bytes, integers 8 bytes big-endian, times microseconds since the Unix epoch
//! as a signed 8-byte big-endian integer.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const HASH_LEN: usize = 32;
/// The `previous_hash` of an account's first entry.
pub const ZERO_HASH: [u8; HASH_LEN] = [0; HASH_LEN];

/// Domain tag of the entry hash (version 1).
const ENTRY_TAG: &[u8] = b"tally.entry.v1";

pub(crate) struct Canonical(Sha256);

impl Canonical {
    pub(crate) fn new(tag: &[u8]) -> Self {
        let mut c = Canonical(Sha256::new());
        c.bytes(tag);
        c
    }

    pub(crate) fn bytes(&mut self, field: &[u8]) -> &mut Self {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        self.0.update(len.to_be_bytes());
        self.0.update(field);
        self
    }

    pub(crate) fn text(&mut self, field: &str) -> &mut Self {
        self.bytes(field.as_bytes())
    }

    pub(crate) fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.bytes(id.as_bytes())
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    pub(crate) fn decimal(&mut self, value: Decimal) -> &mut Self {
        self.text(&value.to_string())
    }

    pub(crate) fn time(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.int(at.timestamp_micros())
    }

    /// An optional field: a presence byte, then the field when present.
    pub(crate) fn optional(&mut self, field: Option<&[u8]>) -> &mut Self {
        match field {
            None => self.bytes(&[0]),
            Some(f) => self.bytes(&[1]).bytes(f),
        }
    }

    pub(crate) fn finish(self) -> [u8; HASH_LEN] {
        self.0.finalize().into()
    }
}

/// The fields an entry's hash covers, in encoding order.
pub struct EntryFields<'a> {
    pub previous_hash: &'a [u8],
    pub account_id: Uuid,
    pub sequence: i64,
    pub transfer_id: Uuid,
    /// Decimal text as stored: `Decimal::to_string` at the currency's scale.
    pub amount: &'a str,
    pub balance_after: &'a str,
    pub created_at: DateTime<Utc>,
    /// Only for imported history (effective before its commit).
    pub effective_at: Option<DateTime<Utc>>,
}

/// Domain tag of an entry with an effective time of its own (version 2:
/// version 1's fields, then effectiveAt). Entries without one keep version
/// 1, byte for byte, so no existing hash changes.
const ENTRY_TAG_V2: &[u8] = b"tally.entry.v2";

pub fn entry_hash(f: &EntryFields<'_>) -> [u8; HASH_LEN] {
    let mut c = Canonical::new(match f.effective_at {
        Some(_) => ENTRY_TAG_V2,
        None => ENTRY_TAG,
    });
    c.bytes(f.previous_hash)
        .uuid(f.account_id)
        .int(f.sequence)
        .uuid(f.transfer_id)
        .text(f.amount)
        .text(f.balance_after)
        .time(f.created_at);
    if let Some(at) = f.effective_at {
        c.time(at);
    }
    c.finish()
}

/// Domain tag of the transfer hash (version 1).
const TRANSFER_TAG: &[u8] = b"tally.transfer.v1";

/// SHA-256 over a transfer's canonical content and its entries' hashes
/// (debit entry first): id, kind, debit account, credit account, amount,
/// currency, idempotency key, createdAt, then the optional reversalOf,
/// holdId (UUID bytes), description (text) and metadata (canonical JSON
/// with sorted keys) — each a presence byte, then the field — then each
/// entry hash.
/// Domain tag of a transfer with an effective time of its own (version 2:
/// version 1's fields through createdAt, then effectiveAt, then the rest).
/// Transfers without one keep version 1, byte for byte.
const TRANSFER_TAG_V2: &[u8] = b"tally.transfer.v2";

pub fn transfer_hash(t: &entity::transfer::Model, entry_hashes: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut c = Canonical::new(match t.effective_at {
        Some(_) => TRANSFER_TAG_V2,
        None => TRANSFER_TAG,
    });
    c.uuid(t.id)
        .text(t.kind.as_str())
        .uuid(t.debit_account_id)
        .uuid(t.credit_account_id)
        .decimal(t.amount.0)
        .text(&t.currency)
        .text(&t.idempotency_key)
        .time(t.created_at);
    if let Some(at) = t.effective_at {
        c.time(at);
    }
    c.optional(t.reversal_of.as_ref().map(|u| &u.as_bytes()[..]))
        .optional(t.hold_id.as_ref().map(|u| &u.as_bytes()[..]))
        .optional(t.description.as_deref().map(str::as_bytes))
        .optional(t.metadata.as_ref().map(canonical_json).as_deref().map(str::as_bytes));
    for h in entry_hashes {
        c.bytes(h);
    }
    c.finish()
}

/// Domain tag of the block hash (version 1).
const BLOCK_TAG: &[u8] = b"tally.block.v1";

/// SHA-256 over height, previous block hash, Merkle root, tree size,
/// transfer count and sealedAt.
pub fn block_hash(b: &entity::block::Model) -> [u8; HASH_LEN] {
    let mut c = Canonical::new(BLOCK_TAG);
    c.int(b.height)
        .bytes(&b.previous_hash)
        .bytes(&b.merkle_root)
        .int(b.tree_size)
        .int(b.transfer_count)
        .time(b.sealed_at);
    c.finish()
}

/// JSON text with object keys sorted at every level, whatever map type
/// serde_json was built with.
pub(crate) fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = pairs
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixes_separate_fields() {
        let mut a = Canonical::new(b"t");
        a.text("1").text("23");
        let mut b = Canonical::new(b"t");
        b.text("12").text("3");
        assert_ne!(a.finish(), b.finish());
    }
}
