//! Step 4 on PostgreSQL: the whole write-back in one statement.
//!
//! The compare-and-swap of every changed account and the inserts of
//! transfers, their seal-queue slots, entries and idempotency records travel
//! as one data-modifying `WITH` statement. Each table's rows are one JSON
//! parameter expanded by `json_to_recordset`, so the statement text never
//! changes: it is parsed and planned once per connection, and a run of any
//! size costs one round trip instead of five, with 4 bind parameters instead
//! of a dozen per row. Foreign keys and unique indexes are checked exactly as
//! for separate statements (at the end of the statement, before commit).
//!
//! The count of accounts the compare-and-swap matched goes through
//! `tally_cas_guard` (migration `m20261122_000004_cas_guard`), which raises a
//! serialization failure on a shortfall: a row moved under us, so the whole
//! statement is undone and the run is rerun. That makes the statement safe
//! outside a transaction too (the engine's optimistic path): it either
//! writes everything or nothing.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::error::{LedgerError, Result};
use entity::{account, entry, idempotency, transfer};

const SQL: &str = "\
WITH a AS (
  UPDATE account SET balance = v.balance, held_balance = v.held_balance, status = v.status,
    version = v.version, entry_count = v.entry_count, head_hash = decode(v.head_hash, 'hex'),
    last_entry_at = v.last_entry_at
  FROM json_to_recordset($1::json) AS v(id uuid, read_version bigint, balance text, held_balance text,
    status text, version bigint, entry_count bigint, head_hash text, last_entry_at timestamptz)
  WHERE account.id = ANY($5::uuid[]) AND account.id = v.id AND account.version = v.read_version
  RETURNING 1
), t AS (
  INSERT INTO transfer (id, kind, debit_account_id, credit_account_id, amount, currency, idempotency_key,
    reversal_of, hold_id, description, metadata, created_at, hash)
  SELECT id, kind, debit_account_id, credit_account_id, amount, currency, idempotency_key,
    reversal_of, hold_id, description, metadata::jsonb, created_at, decode(hash, 'hex')
  FROM json_to_recordset($2::json) AS r(id uuid, kind text, debit_account_id uuid, credit_account_id uuid,
    amount text, currency text, idempotency_key text, reversal_of uuid, hold_id uuid, description text,
    metadata text, created_at timestamptz, hash text)
  RETURNING id, created_at
), u AS (
  INSERT INTO unsealed (transfer_id, created_at) SELECT id, created_at FROM t
), e AS (
  INSERT INTO entry (id, account_id, transfer_id, amount, balance_after, sequence, created_at,
    previous_hash, hash)
  SELECT id, account_id, transfer_id, amount, balance_after, sequence, created_at,
    decode(previous_hash, 'hex'), decode(hash, 'hex')
  FROM json_to_recordset($3::json) AS r(id uuid, account_id uuid, transfer_id uuid, amount text,
    balance_after text, sequence bigint, created_at timestamptz, previous_hash text, hash text)
), i AS (
  INSERT INTO idempotency (key, fingerprint, transfer_id, hold_id, account_id, error_code, error_message,
    created_at)
  SELECT key, decode(fingerprint, 'hex'), transfer_id, hold_id, account_id, error_code, error_message,
    created_at
  FROM json_to_recordset($4::json) AS r(key text, fingerprint text, transfer_id uuid, hold_id uuid,
    account_id uuid, error_code text, error_message text, created_at timestamptz)
)
SELECT tally_cas_guard(count(*), $6) AS matched FROM a";

/// Writes the run back; `accounts` are the changed rows with the version
/// each was read at. `db` is the run's transaction, or the pool itself for
/// an optimistic run (the statement is then its own transaction).
pub(super) async fn write(
    db: &impl ConnectionTrait,
    accounts: &[(account::Model, i64)],
    transfers: &[transfer::Model],
    entries: &[entry::Model],
    records: &[idempotency::Model],
) -> Result<()> {
    if accounts.is_empty() && transfers.is_empty() && entries.is_empty() && records.is_empty() {
        return Ok(());
    }
    let params: [sea_orm::Value; 6] = [
        json(accounts.iter().map(|(row, read)| AccountRow::new(row, *read)))?.into(),
        json(transfers.iter().map(TransferRow::from))?.into(),
        json(entries.iter().map(EntryRow::from))?.into(),
        json(records.iter().map(RecordRow::from))?.into(),
        uuid_array(accounts.iter().map(|(row, _)| row.id)).into(),
        (accounts.len() as i64).into(),
    ];
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, SQL, params);
    let row = db
        .query_one_raw(stmt)
        .await?
        .ok_or_else(|| LedgerError::Internal("write-back returned no row".into()))?;
    let matched: i64 = row.try_get("", "matched")?;
    if matched != accounts.len() as i64 {
        return Err(LedgerError::Conflict);
    }
    Ok(())
}

fn json<T: Serialize>(rows: impl Iterator<Item = T>) -> Result<String> {
    let rows: Vec<T> = rows.collect();
    serde_json::to_string(&rows).map_err(|e| LedgerError::Internal(format!("encoding the write-back: {e}")))
}

/// A `uuid[]` literal. The ids also drive the account index scan: without
/// them the planner, which cannot see into the JSON, may scan every account.
fn uuid_array(ids: impl Iterator<Item = Uuid>) -> String {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    format!("{{{}}}", ids.join(","))
}

fn hex_bytes<S: Serializer>(bytes: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn hex_opt<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => hex_bytes(b, s),
        None => s.serialize_none(),
    }
}

/// Microseconds, UTC, exactly as the engine truncated them.
fn micros<S: Serializer>(at: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn micros_opt<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match at {
        Some(at) => micros(at, s),
        None => s.serialize_none(),
    }
}

#[derive(Serialize)]
struct AccountRow<'a> {
    id: Uuid,
    read_version: i64,
    balance: String,
    held_balance: String,
    status: &'a str,
    version: i64,
    entry_count: i64,
    #[serde(serialize_with = "hex_bytes")]
    head_hash: &'a [u8],
    #[serde(serialize_with = "micros_opt")]
    last_entry_at: &'a Option<DateTime<Utc>>,
}

impl<'a> AccountRow<'a> {
    fn new(row: &'a account::Model, read_version: i64) -> Self {
        AccountRow {
            id: row.id,
            read_version,
            balance: row.balance.to_string(),
            held_balance: row.held_balance.to_string(),
            status: &row.status,
            version: row.version,
            entry_count: row.entry_count,
            head_hash: &row.head_hash,
            last_entry_at: &row.last_entry_at,
        }
    }
}

#[derive(Serialize)]
struct TransferRow<'a> {
    id: Uuid,
    kind: &'a str,
    debit_account_id: Uuid,
    credit_account_id: Uuid,
    amount: String,
    currency: &'a str,
    idempotency_key: &'a str,
    reversal_of: Option<Uuid>,
    hold_id: Option<Uuid>,
    description: Option<&'a str>,
    /// The JSON document as text, so a JSON `null` stays a document, not SQL NULL.
    metadata: Option<String>,
    #[serde(serialize_with = "micros")]
    created_at: &'a DateTime<Utc>,
    #[serde(serialize_with = "hex_opt")]
    hash: &'a Option<Vec<u8>>,
}

impl<'a> From<&'a transfer::Model> for TransferRow<'a> {
    fn from(t: &'a transfer::Model) -> Self {
        TransferRow {
            id: t.id,
            kind: &t.kind,
            debit_account_id: t.debit_account_id,
            credit_account_id: t.credit_account_id,
            amount: t.amount.to_string(),
            currency: &t.currency,
            idempotency_key: &t.idempotency_key,
            reversal_of: t.reversal_of,
            hold_id: t.hold_id,
            description: t.description.as_deref(),
            metadata: t.metadata.as_ref().map(|m| m.to_string()),
            created_at: &t.created_at,
            hash: &t.hash,
        }
    }
}

#[derive(Serialize)]
struct EntryRow<'a> {
    id: Uuid,
    account_id: Uuid,
    transfer_id: Uuid,
    amount: String,
    balance_after: String,
    sequence: i64,
    #[serde(serialize_with = "micros")]
    created_at: &'a DateTime<Utc>,
    #[serde(serialize_with = "hex_bytes")]
    previous_hash: &'a [u8],
    #[serde(serialize_with = "hex_bytes")]
    hash: &'a [u8],
}

impl<'a> From<&'a entry::Model> for EntryRow<'a> {
    fn from(e: &'a entry::Model) -> Self {
        EntryRow {
            id: e.id,
            account_id: e.account_id,
            transfer_id: e.transfer_id,
            amount: e.amount.to_string(),
            balance_after: e.balance_after.to_string(),
            sequence: e.sequence,
            created_at: &e.created_at,
            previous_hash: &e.previous_hash,
            hash: &e.hash,
        }
    }
}

#[derive(Serialize)]
struct RecordRow<'a> {
    key: &'a str,
    #[serde(serialize_with = "hex_bytes")]
    fingerprint: &'a [u8],
    transfer_id: Option<Uuid>,
    hold_id: Option<Uuid>,
    account_id: Option<Uuid>,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    #[serde(serialize_with = "micros")]
    created_at: &'a DateTime<Utc>,
}

impl<'a> From<&'a idempotency::Model> for RecordRow<'a> {
    fn from(r: &'a idempotency::Model) -> Self {
        RecordRow {
            key: &r.key,
            fingerprint: &r.fingerprint,
            transfer_id: r.transfer_id,
            hold_id: r.hold_id,
            account_id: r.account_id,
            error_code: r.error_code.as_deref(),
            error_message: r.error_message.as_deref(),
            created_at: &r.created_at,
        }
    }
}
