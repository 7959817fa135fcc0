//! Step 4 on PostgreSQL: the whole write-back in one statement.
//!
//! The compare-and-swap of every changed account and the inserts of
//! transfers, their seal-queue row, entries, idempotency records and the
//! run's webhook outbox rows (events and deliveries) travel as one
//! data-modifying `WITH` statement. Each column travels as one array
//! parameter, zipped back into rows by `unnest`, so the statement text never
//! changes: it is parsed and planned once per connection, and a run of any
//! size costs one round trip instead of seven, with 57 bind parameters however
//! many rows it writes. Columns without NULLs go as binary arrays (a uuid is
//! 16 bytes copied, a time 8); the few that may be NULL go as array literals.
//! (Each table's rows were one JSON document before: expanding 200 entries
//! took the server about 2 ms, unnesting their arrays about 0.5 ms.) Foreign
//! keys and unique indexes are checked exactly as for separate statements
//! (at the end of the statement, before commit).
//!
//! The accounts go first, through `tally_swap_accounts` (migration
//! `m20261206_000018_swap_without_locks`): one update per account in
//! ascending id order, like every other row lock the engine takes, each
//! only where the version is still the one the run read (a row that
//! changed while the update waited is re-read: read committed checks the
//! latest committed version). On the first miss the function undoes its
//! updates and returns false (`ok`), and then no part of the statement
//! writes: it reports the miss, and the run is rerun. That makes the
//! statement safe outside a transaction too (the engine's optimistic path):
//! it writes everything or nothing, and an expected, retried miss is a
//! returned flag — not an aborted statement with an ERROR in the database's
//! log. (The statement locked the rows first with `FOR NO KEY UPDATE` and
//! then updated them: the order was the same, but each lock was a WAL record
//! of its own, 108 bytes per transfer. In a locked run the rows are already
//! this transaction's.)

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::model::error::{LedgerError, Result};
use crate::model::event::Event;
use crate::store::db::array_literal;
use crate::store::outbox::Outbox;
use entity::{account, entry, idempotency, transfer, unsealed};

const SQL: &str = "\
WITH ok AS MATERIALIZED (
  SELECT tally_swap_accounts($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
    $8::timestamptz[], $39::int8) AS matched
), t AS (
  INSERT INTO transfer (id, kind, debit_account_id, credit_account_id, amount, currency, idempotency_key,
    reversal_of, hold_id, description, metadata, created_at, hash, effective_at, debit_sequence, credit_sequence)
  SELECT id, kind, debit_account_id, credit_account_id, amount, currency, idempotency_key,
    reversal_of, hold_id, description, metadata::jsonb, created_at, hash, effective_at, debit_sequence,
    credit_sequence
  FROM unnest($9::uuid[], $10::text[], $11::uuid[], $12::uuid[], $13::text[], $14::text[], $15::text[],
    $16::uuid[], $17::uuid[], $18::text[], $19::text[], $20::timestamptz[], $21::bytea[], $40::timestamptz[],
    $56::int8[], $57::int8[])
    AS r(id, kind, debit_account_id, credit_account_id, amount, currency, idempotency_key,
      reversal_of, hold_id, description, metadata, created_at, hash, effective_at, debit_sequence, credit_sequence)
  WHERE (SELECT matched FROM ok)
  RETURNING id
), u AS (
  INSERT INTO unsealed (transfer_ids) SELECT $55::bytea WHERE (SELECT matched FROM ok) AND octet_length($55::bytea) > 0
), e AS (
  INSERT INTO entry (id, account_id, transfer_id, amount, balance_after, sequence, created_at,
    previous_hash, hash, effective_at)
  SELECT id, account_id, transfer_id, amount, balance_after, sequence, created_at, previous_hash, hash,
    effective_at
  FROM unnest($22::uuid[], $23::uuid[], $24::uuid[], $25::text[], $26::text[], $27::int8[],
    $28::timestamptz[], $29::bytea[], $30::bytea[], $41::timestamptz[])
    AS r(id, account_id, transfer_id, amount, balance_after, sequence, created_at, previous_hash, hash,
      effective_at)
  WHERE (SELECT matched FROM ok)
), i AS (
  INSERT INTO idempotency (key, fingerprint, transfer_id, hold_id, account_id, error_code, error_message,
    created_at, more_transfer_ids)
  SELECT key, fingerprint, transfer_id, hold_id, account_id, error_code, error_message, created_at,
    more_transfer_ids
  FROM unnest($31::text[], $32::bytea[], $33::uuid[], $34::uuid[], $35::uuid[], $36::text[], $37::text[],
    $38::timestamptz[], $54::bytea[])
    AS r(key, fingerprint, transfer_id, hold_id, account_id, error_code, error_message, created_at,
      more_transfer_ids)
  WHERE (SELECT matched FROM ok)
), ev AS (
  INSERT INTO webhook_event (id, kind, account_a, account_b, payload, created_at, transfer_id)
  SELECT id, kind, account_a, account_b, payload, created_at, transfer_id
  FROM unnest($42::uuid[], $43::text[], $44::uuid[], $45::uuid[], $46::text[], $47::timestamptz[], $53::uuid[])
    AS r(id, kind, account_a, account_b, payload, created_at, transfer_id)
  WHERE (SELECT matched FROM ok)
), dl AS (
  INSERT INTO webhook_delivery (event_id, endpoint_id, account_a, account_b, status, attempts, next_attempt_at,
    created_at)
  SELECT event_id, endpoint_id, account_a, account_b, 'PENDING', 0, created_at, created_at
  FROM unnest($48::uuid[], $49::uuid[], $50::uuid[], $51::uuid[], $52::timestamptz[])
    AS r(event_id, endpoint_id, account_a, account_b, created_at)
  WHERE (SELECT matched FROM ok)
)
SELECT (SELECT matched FROM ok) AS matched";

/// What one write-back inserts besides the accounts it updates.
pub(super) struct Rows<'a> {
    pub transfers: &'a [transfer::Model],
    pub entries: &'a [entry::Model],
    pub records: &'a [idempotency::Model],
    /// The run's webhook events and deliveries (the transactional outbox).
    pub outbox: Outbox,
}

/// Writes the run back; `accounts` are the changed rows with the version
/// each was read at. `db` is the run's transaction, or the pool itself for
/// an optimistic run (the statement is then its own transaction).
pub(super) async fn write(db: &impl ConnectionTrait, accounts: &[(account::Model, i64)], rows: Rows<'_>) -> Result<()> {
    let Rows {
        transfers,
        entries,
        records,
        outbox,
    } = rows;
    if accounts.is_empty() && transfers.is_empty() && entries.is_empty() && records.is_empty() && outbox.is_empty() {
        return Ok(());
    }
    let mut p = Params::default();
    account_columns(&mut p, accounts);
    transfer_columns(&mut p, transfers)?;
    entry_columns(&mut p, entries);
    record_columns(&mut p, records);
    p.0.push((accounts.len() as i64).into());
    // $40, $41: effective times (NULL for all but imported history).
    p.nullable(transfers, |t| t.effective_at.as_ref().map(micros));
    p.nullable(entries, |e| e.effective_at.as_ref().map(micros));
    outbox_columns(&mut p, outbox);
    // $54: the records' further transfers (NULL for all but multi-transfer outcomes).
    p.nullable(records, |r| {
        r.more_transfer_ids
            .as_ref()
            .map(|ids| format!("\\x{}", hex::encode(ids)))
    });
    // $55: the seal-queue row, every transfer's id (none: no row).
    p.0.push(unsealed::Model::of(transfers.iter().map(|t| t.id)).transfer_ids.into());
    // $56, $57: where each transfer's entries sit.
    for side in [
        |t: &transfer::Model| t.debit_sequence,
        |t: &transfer::Model| t.credit_sequence,
    ] {
        let positions = transfers
            .iter()
            .map(side)
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| {
                LedgerError::Internal("a transfer reached the write-back without its entries' positions".into())
            })?;
        p.0.push(positions.into());
    }
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, SQL, p.0);
    let row = db
        .query_one_raw(stmt)
        .await?
        .ok_or_else(|| LedgerError::Internal("write-back returned no row".into()))?;
    let matched: bool = row.try_get("", "matched")?;
    if !matched {
        metrics::counter!("tally_cas_misses_total").increment(1);
        return Err(LedgerError::Conflict);
    }
    Ok(())
}

/// $1..$8, in the order of `tally_swap_accounts`' parameters.
fn account_columns(p: &mut Params, rows: &[(account::Model, i64)]) {
    p.column(rows, |(a, _)| a.id);
    p.column(rows, |(_, read)| *read);
    p.column(rows, |(a, _)| a.balance.to_string());
    p.column(rows, |(a, _)| a.held_balance.to_string());
    p.column(rows, |(a, _)| a.status.as_str().to_owned());
    p.column(rows, |(a, _)| a.version);
    p.column(rows, |(a, _)| a.entry_count);
    p.nullable(rows, |(a, _)| a.last_entry_at.as_ref().map(micros));
}

/// $9..$21. Every transfer is hashed before it is written.
fn transfer_columns(p: &mut Params, rows: &[transfer::Model]) -> Result<()> {
    let hashes = rows
        .iter()
        .map(|t| t.hash.clone())
        .collect::<Option<Vec<Vec<u8>>>>()
        .ok_or_else(|| LedgerError::Internal("a transfer reached the write-back unhashed".into()))?;
    p.column(rows, |t| t.id);
    p.column(rows, |t| t.kind.as_str().to_owned());
    p.column(rows, |t| t.debit_account_id);
    p.column(rows, |t| t.credit_account_id);
    p.column(rows, |t| t.amount.to_string());
    p.column(rows, |t| t.currency.clone());
    p.column(rows, |t| t.idempotency_key.clone());
    p.nullable(rows, |t| t.reversal_of.map(|id| id.to_string()));
    p.nullable(rows, |t| t.hold_id.map(|id| id.to_string()));
    p.nullable(rows, |t| t.description.clone());
    // The document as text, so a JSON `null` stays a document, not SQL NULL.
    p.nullable(rows, |t| t.metadata.as_ref().map(|m| m.to_string()));
    p.column(rows, |t| t.created_at);
    p.0.push(hashes.into());
    Ok(())
}

/// $22..$30.
fn entry_columns(p: &mut Params, rows: &[entry::Model]) {
    p.column(rows, |e| e.id);
    p.column(rows, |e| e.account_id);
    p.column(rows, |e| e.transfer_id);
    p.column(rows, |e| e.amount.to_string());
    p.column(rows, |e| e.balance_after.to_string());
    p.column(rows, |e| e.sequence);
    p.column(rows, |e| e.created_at);
    p.column(rows, |e| e.previous_hash.clone());
    p.column(rows, |e| e.hash.clone());
}

/// $31..$38.
fn record_columns(p: &mut Params, rows: &[idempotency::Model]) {
    p.column(rows, |r| r.key.clone());
    p.column(rows, |r| r.fingerprint.clone());
    p.nullable(rows, |r| r.transfer_id.map(|id| id.to_string()));
    p.nullable(rows, |r| r.hold_id.map(|id| id.to_string()));
    p.nullable(rows, |r| r.account_id.map(|id| id.to_string()));
    p.nullable(rows, |r| r.error_code.clone());
    p.nullable(rows, |r| r.error_message.clone());
    p.column(rows, |r| r.created_at);
}

/// $42..$52: the outbox's events, then its deliveries (the bodies moved
/// into their parameter, not copied); $53: the events' transfers.
fn outbox_columns(p: &mut Params, outbox: Outbox) {
    let Outbox { events, deliveries } = outbox;
    p.column(&events, |e| e.id);
    p.column(&events, |e| e.kind.as_str().to_owned());
    p.nullable(&events, |e| e.accounts.0.map(|id| id.to_string()));
    p.nullable(&events, |e| e.accounts.1.map(|id| id.to_string()));
    let created: Vec<_> = events.iter().map(|e| e.created_at).collect();
    let transfers = array_literal(events.iter().map(|e| e.transfer_id.map(|id| id.to_string())));
    p.0.push(
        events
            .into_iter()
            .map(Event::into_stored_body)
            .collect::<Vec<String>>()
            .into(),
    );
    p.0.push(created.into());
    let dl = &deliveries;
    p.column(dl, |d| d.event_id);
    p.column(dl, |d| d.endpoint_id);
    p.nullable(dl, |d| d.accounts.0.map(|id| id.to_string()));
    p.nullable(dl, |d| d.accounts.1.map(|id| id.to_string()));
    p.column(dl, |d| d.created_at);
    p.0.push(transfers.into());
}

/// The statement's parameters, one column each.
#[derive(Default)]
struct Params(Vec<Value>);

impl Params {
    /// A column without NULLs: a binary array of its values.
    fn column<R, T>(&mut self, rows: &[R], value: impl Fn(&R) -> T)
    where
        Value: From<Vec<T>>,
    {
        self.0.push(rows.iter().map(value).collect::<Vec<T>>().into());
    }

    /// A column that may hold NULLs, as an array literal of each value's
    /// text (the binding refuses NULL elements in binary arrays); the SQL
    /// casts it to the column's array type.
    fn nullable<R>(&mut self, rows: &[R], value: impl Fn(&R) -> Option<String>) {
        self.0.push(array_literal(rows.iter().map(value)).into());
    }
}

/// Microseconds, UTC, exactly as the engine truncated them.
fn micros(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
