//! Step 4 of the engine: writing the book back. A compare-and-swap of every
//! changed account and hold, then the inserts of holds, transfers, their
//! seal-queue row, entries, idempotency records and outbox rows (on
//! PostgreSQL the accounts and the inserts other than holds are one
//! statement, `pg_write`).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use super::book::{Book, Tracked};
use super::pg_write;
use crate::model::error::{LedgerError, Result};
use crate::store::account as repo;
use crate::store::hold as holds;
use crate::store::outbox::{self, Outbox};
use entity::{account, entry, hold, idempotency, transfer, unsealed};

impl Book {
    /// True when every account in the book is changed and no hold is
    /// touched: the shape the optimistic path can write in one statement
    /// whose compare-and-swap covers every row the run read.
    pub(super) fn changes_only_accounts_it_read(&self) -> bool {
        self.holds.is_empty() && self.accounts.values().all(|t| t.changed)
    }

    /// The optimistic path's step 4 (PostgreSQL): the whole write-back as
    /// one statement outside any transaction, so it is its own transaction.
    /// Returns every account as it now stands.
    pub(super) async fn write_alone(self, db: &DatabaseConnection, outbox: Outbox) -> Result<Vec<account::Model>> {
        if db.get_database_backend() != DbBackend::Postgres || !self.changes_only_accounts_it_read() {
            return Err(LedgerError::Internal(
                "a run only PostgreSQL's write-back can take alone".into(),
            ));
        }
        let (changed, unchanged) = split_changed(self.accounts);
        let rows = pg_write::Rows {
            transfers: &self.transfers,
            entries: &self.entries,
            records: &self.records,
            outbox,
        };
        pg_write::write(db, &changed, rows).await?;
        Ok(all_rows(changed, unchanged))
    }

    /// Step 4: compare-and-swap every changed account and hold, then the
    /// inserts, the run's outbox rows among them (on PostgreSQL, accounts
    /// and inserts in one statement). Returns every account in the book as
    /// it stands once committed.
    pub(super) async fn write(self, txn: &DatabaseTransaction, outbox: Outbox) -> Result<Vec<account::Model>> {
        let (changed, unchanged) = split_changed(self.accounts);
        let pg = txn.get_database_backend() == DbBackend::Postgres;
        if !pg {
            repo::compare_and_swap_many(txn, &changed).await?;
        }
        let mut new_holds = Vec::new();
        for h in self.holds.into_values().filter(|h| h.changed) {
            match h.read_version {
                Some(read) => holds::compare_and_swap(txn, &h.row, read).await?,
                None => new_holds.push(h.row),
            }
        }
        insert_all::<hold::Entity, _>(txn, new_holds).await?;
        if pg {
            let rows = pg_write::Rows {
                transfers: &self.transfers,
                entries: &self.entries,
                records: &self.records,
                outbox,
            };
            pg_write::write(txn, &changed, rows).await?;
            return Ok(all_rows(changed, unchanged));
        }
        // Queued for the sealer in the same transaction (one row for the
        // whole write-back): sealed exactly once.
        let queue: Vec<unsealed::Model> = match self.transfers.is_empty() {
            true => Vec::new(),
            false => vec![unsealed::Model::of(self.transfers.iter().map(|t| t.id))],
        };
        insert_all::<transfer::Entity, _>(txn, self.transfers).await?;
        insert_all::<unsealed::Entity, _>(txn, queue).await?;
        insert_all::<entry::Entity, _>(txn, self.entries).await?;
        insert_all::<idempotency::Entity, _>(txn, self.records).await?;
        outbox::insert(txn, outbox).await?;
        Ok(all_rows(changed, unchanged))
    }
}

/// The changed accounts, in id order with the version each was read at, and
/// the unchanged ones.
fn split_changed(accounts: HashMap<Uuid, Tracked>) -> (Vec<(account::Model, i64)>, Vec<account::Model>) {
    let (mut changed, mut unchanged) = (Vec::new(), Vec::new());
    for t in accounts.into_values() {
        match t.changed {
            true => changed.push((t.row, t.read_version)),
            false => unchanged.push(t.row),
        }
    }
    changed.sort_by_key(|(row, _)| row.id);
    (changed, unchanged)
}

/// Every account again, changed and unchanged, as it stands after the write.
fn all_rows(changed: Vec<(account::Model, i64)>, unchanged: Vec<account::Model>) -> Vec<account::Model> {
    changed.into_iter().map(|(row, _)| row).chain(unchanged).collect()
}

/// Inserts rows in chunks that stay under every backend's bind-parameter limit.
async fn insert_all<E, M>(txn: &DatabaseTransaction, rows: Vec<M>) -> Result<()>
where
    E: EntityTrait,
    M: IntoActiveModel<E::ActiveModel>,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<E::ActiveModel> = rows
            .by_ref()
            .take(500)
            .map(IntoActiveModel::into_active_model)
            .collect();
        E::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}
