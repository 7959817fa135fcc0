//! The transfer walk: every transfer in id order with its entries, its
//! journal leaf and whether the seal queue (read whole first, in the same
//! snapshot) lists it. On PostgreSQL, transfers (joined to their
//! leaf) and entries (sorted by transfer: no index keeps them in that order
//! since migration 21) are two streams on
//! two connections of one snapshot, merged here by transfer id: the database
//! sends each row once and works on two cores. On SQLite (one connection)
//! it is one joined query. Checks that every transfer has two
//! entries summing to zero that match its accounts and amount, that its
//! stored hash matches its content and entries, that it is sealed or queued
//! for sealing, and that a sealed transfer still has the hash it was sealed
//! with. Given the ledger's [`Chains`], it hands every entry it reads to
//! them, so each entry is read once.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, StreamTrait};
use tokio::sync::mpsc::Sender;
use uuid::Uuid;

use super::chains::{Chains, ENTRY_COLUMNS, Entry};
pub(super) use super::legs::Walked;
use super::legs::{Current, finish};
use crate::model::error::{LedgerError, Result};
use crate::model::report::{MAX_PROBLEMS, Problem, Verification};
use crate::store::db::Cols;
use entity::transfer;

/// A transfer with its leaf: the columns [`decode`] reads.
const TRANSFER_COLUMNS: &str = "t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount, t.currency, \
    t.idempotency_key, t.reversal_of, t.hold_id, t.description, t.metadata, t.created_at, t.effective_at, t.hash, \
    t.debit_sequence, t.credit_sequence, j.leaf_index, j.transfer_hash";
const TRANSFER_JOINS: &str = "FROM transfer t LEFT JOIN journal j ON j.transfer_id = t.id";

/// Transfers with their leaf.
fn transfers_sql() -> String {
    format!("SELECT {TRANSFER_COLUMNS} {TRANSFER_JOINS} ORDER BY t.id")
}

/// Entries in transfer order.
fn entries_sql() -> String {
    format!("SELECT {ENTRY_COLUMNS} FROM entry e ORDER BY e.transfer_id")
}

/// Both at once, one row per entry.
fn joined_sql() -> String {
    format!(
        "SELECT {TRANSFER_COLUMNS}, {ENTRY_COLUMNS} {TRANSFER_JOINS} \
         LEFT JOIN entry e ON e.transfer_id = t.id ORDER BY t.id"
    )
}
/// Where the entry's columns start in a row of [`joined_sql`]: after the
/// [`TRANSFER_COLUMNS`].
const LEG_COLUMNS: usize = 18;

/// Transfers (or entries) per hand-over from one task to the next.
const BATCH: usize = 512;

/// Where the walk's rows come from.
pub(super) enum Source {
    /// One joined query (SQLite: its one connection serves one stream at a time).
    Joined(Arc<DatabaseTransaction>),
    /// Two streams on two connections that share one snapshot (PostgreSQL).
    Merged {
        transfers: Arc<DatabaseTransaction>,
        entries: Arc<DatabaseTransaction>,
    },
}

/// Walks every transfer; hands each entry to `chains` when given (counting
/// them in `entries_seen` for the progress line). Two tasks: this one reads
/// and decodes rows, a second one hashes and checks them, so the walk uses
/// two cores (the channel between them is bounded: memory stays constant).
pub(super) async fn walk(source: Source, chains: Option<Chains>, entries_seen: Arc<AtomicU64>) -> Result<Walked> {
    let queue = match &source {
        Source::Joined(txn) | Source::Merged { transfers: txn, .. } => queued(txn).await?,
    };
    let (batches, mut inbox) = tokio::sync::mpsc::channel::<Vec<Current>>(4);
    let checker = tokio::spawn(async move {
        let mut out = Walked {
            verification: Verification::default(),
            sealed: 0,
            entries: 0,
            chains,
        };
        while let Some(batch) = inbox.recv().await {
            for mut t in batch {
                t.queued = queue.contains(&t.transfer.id);
                finish(t, &mut out);
            }
            entries_seen.store(out.entries, Ordering::Relaxed);
        }
        out
    });
    let read = match source {
        Source::Joined(txn) => read_joined(&txn, &batches).await,
        Source::Merged { transfers, entries } => read_merged(&transfers, entries, &batches).await,
    };
    drop(batches);
    let out = checker
        .await
        .map_err(|e| LedgerError::Internal(format!("transfer checker: {e}")))?;
    read.map(|()| out)
}

async fn read_joined(txn: &DatabaseTransaction, batches: &Sender<Vec<Current>>) -> Result<()> {
    let statement = Statement::from_string(txn_backend(txn), joined_sql());
    let mut rows = txn.stream_raw(statement).await?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut current: Option<Current> = None;
    while let Some(row) = rows.next().await {
        let row = row?;
        let mut c = Cols::new(&row);
        let id: Uuid = c.next()?;
        if current.as_ref().is_none_or(|t| t.transfer.id != id) {
            batch.extend(current.take());
            if batch.len() >= BATCH {
                send(batches, std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await?;
            }
            current = Some(decode(id, &mut c)?);
        }
        let leg = leg(c.seek(LEG_COLUMNS))?;
        if let (Some(t), Some(leg)) = (current.as_mut(), leg) {
            t.legs.push(leg);
        }
    }
    batch.extend(current.take());
    send(batches, batch).await
}

/// Reads transfers here and entries in a task of their own, and gives each
/// transfer the entries that carry its id. (An entry whose transfer does not
/// exist is passed over, as the joined query would; the chains then come up
/// short and the orphan query names it.)
async fn read_merged(
    transfers: &DatabaseTransaction,
    entries: Arc<DatabaseTransaction>,
    batches: &Sender<Vec<Current>>,
) -> Result<()> {
    let (legs_out, mut legs_in) = tokio::sync::mpsc::channel::<Vec<Entry>>(4);
    let entry_reader = tokio::spawn(async move { read_entries(&entries, &legs_out).await });
    let merged = async {
        let statement = Statement::from_string(txn_backend(transfers), transfers_sql());
        let mut rows = transfers.stream_raw(statement).await?;
        let mut waiting: VecDeque<Entry> = VecDeque::new();
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(row) = rows.next().await {
            let row = row?;
            let mut c = Cols::new(&row);
            let id: Uuid = c.next()?;
            let mut t = decode(id, &mut c)?;
            loop {
                if waiting.is_empty() {
                    match legs_in.recv().await {
                        Some(more) => waiting.extend(more),
                        None => break,
                    }
                }
                match waiting.front() {
                    Some(e) if e.transfer_id < id => drop(waiting.pop_front()),
                    Some(e) if e.transfer_id == id => t.legs.extend(waiting.pop_front()),
                    _ => break,
                }
            }
            batch.push(t);
            if batch.len() >= BATCH {
                send(batches, std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await?;
            }
        }
        send(batches, batch).await
    }
    .await;
    drop(legs_in);
    let entries_read = entry_reader
        .await
        .map_err(|e| LedgerError::Internal(format!("entry reader: {e}")))?;
    merged.and(entries_read)
}

/// Streams entries to the merger. Stops quietly when the merger hangs up:
/// it needs no entries past the last transfer.
async fn read_entries(txn: &DatabaseTransaction, out: &Sender<Vec<Entry>>) -> Result<()> {
    if txn_backend(txn) == sea_orm::DbBackend::Postgres {
        // No index orders entries by transfer (migration 21): the database
        // sorts them, in memory up to this much, in a few merged runs beyond.
        txn.execute_unprepared("SET LOCAL work_mem = '256MB'").await?;
    }
    let statement = Statement::from_string(txn_backend(txn), entries_sql());
    let mut rows = txn.stream_raw(statement).await?;
    let mut batch = Vec::with_capacity(BATCH * 2);
    while let Some(row) = rows.next().await {
        batch.push(Entry::decode(&mut Cols::new(&row?))?);
        if batch.len() >= BATCH * 2 {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH * 2));
            if out.send(full).await.is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = out.send(batch).await;
    }
    Ok(())
}

/// Every transfer the seal queue lists.
async fn queued(txn: &DatabaseTransaction) -> Result<HashSet<Uuid>> {
    let rows = crate::seal::block::queue_rows(txn).await?;
    Ok(rows.into_iter().flat_map(|(_, ids)| ids).collect())
}

async fn send(batches: &Sender<Vec<Current>>, batch: Vec<Current>) -> Result<()> {
    batches
        .send(batch)
        .await
        .map_err(|_| LedgerError::Internal("transfer checker stopped".into()))
}

fn txn_backend(txn: &DatabaseTransaction) -> sea_orm::DbBackend {
    ConnectionTrait::get_database_backend(txn)
}

fn decode(id: Uuid, c: &mut Cols<'_>) -> Result<Current> {
    let transfer = transfer::Model {
        id,
        kind: c.next()?,
        debit_account_id: c.next()?,
        credit_account_id: c.next()?,
        amount: c.next()?,
        currency: c.next()?,
        idempotency_key: c.next()?,
        reversal_of: c.next()?,
        hold_id: c.next()?,
        description: c.next()?,
        metadata: c.next()?,
        created_at: c.next()?,
        effective_at: c.next()?,
        hash: c.next()?,
        debit_sequence: c.next()?,
        credit_sequence: c.next()?,
    };
    let leaf_index: Option<i64> = c.next()?;
    let sealed_hash: Option<Vec<u8>> = c.next()?;
    Ok(Current {
        transfer,
        leaf: leaf_index.map(|i| (i, sealed_hash.unwrap_or_default())),
        queued: false, // the checker looks it up
        legs: Vec::with_capacity(2),
    })
}

/// The entry on this row, if the transfer has any.
fn leg(c: &mut Cols<'_>) -> Result<Option<Entry>> {
    if c.next::<Option<Uuid>>()?.is_none() {
        return Ok(None);
    }
    Entry::decode(c.seek(LEG_COLUMNS)).map(Some)
}

/// Names (at most a problem list's worth of) entries whose transfer does
/// not exist, and returns them. Run only when the walks' counts or chains
/// say some entry belongs to no transfer.
pub(super) async fn entries_without_transfer(txn: &DatabaseTransaction, v: &mut Verification) -> Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entry e \
         WHERE NOT EXISTS (SELECT 1 FROM transfer t WHERE t.id = e.transfer_id) \
         ORDER BY e.account_id, e.sequence LIMIT {MAX_PROBLEMS}"
    );
    let rows = txn.query_all_raw(Statement::from_string(txn_backend(txn), sql)).await?;
    let orphans = rows
        .iter()
        .map(|row| Entry::decode(&mut Cols::new(row)))
        .collect::<Result<Vec<_>>>()?;
    for e in &orphans {
        v.report(Problem {
            account_id: Some(e.account_id),
            sequence: Some(e.sequence),
            transfer_id: Some(e.transfer_id),
            message: "entry belongs to no transfer (its transfer is missing)".to_owned(),
        });
    }
    Ok(orphans)
}

#[cfg(test)]
mod tests {
    use super::{LEG_COLUMNS, TRANSFER_COLUMNS};

    #[test]
    fn the_entry_columns_start_after_the_transfer_columns() {
        assert_eq!(TRANSFER_COLUMNS.split(',').count(), LEG_COLUMNS);
    }
}
