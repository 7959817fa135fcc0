//! Schema history of the Tally ledger. Frozen: a migration, once released, is
//! never edited, and this crate never imports `entity` (the entities describe
//! today's schema; migrations describe how it came to be).

pub use sea_orm_migration::prelude::*;

mod iso4217;
mod m20261122_000001_ledger;
mod m20261122_000002_seal;
mod m20261122_000003_sparse_reversal_index;
mod m20261122_000004_cas_guard;
mod m20261122_000005_redundant_transfer_fks;
mod m20261202_000006_access;
mod m20261204_000007_lease;
mod m20261204_000008_lean_entries;
mod m20261204_000009_account_queries;
mod m20261204_000010_effective_dates;
mod m20261204_000011_webhooks;
mod m20261205_000012_webhook_batches;
mod m20261205_000013_lean_outbox;
mod m20261205_000014_no_side_indexes;
mod m20261205_000015_no_time_index;
mod m20261205_000016_no_key_index;
mod m20261205_000017_lean_seal_queue;
mod m20261206_000018_swap_without_locks;
mod m20261206_000019_no_entry_account_fk;
mod m20261206_000020_seal_queue_per_write;
mod m20261206_000021_entries_by_position;
mod m20261206_000022_no_account_head_hash;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_ledger::Migration),
            Box::new(m20261122_000002_seal::Migration),
            Box::new(m20261122_000003_sparse_reversal_index::Migration),
            Box::new(m20261122_000004_cas_guard::Migration),
            Box::new(m20261122_000005_redundant_transfer_fks::Migration),
            Box::new(m20261202_000006_access::Migration),
            Box::new(m20261204_000007_lease::Migration),
            Box::new(m20261204_000008_lean_entries::Migration),
            Box::new(m20261204_000009_account_queries::Migration),
            Box::new(m20261204_000010_effective_dates::Migration),
            Box::new(m20261204_000011_webhooks::Migration),
            Box::new(m20261205_000012_webhook_batches::Migration),
            Box::new(m20261205_000013_lean_outbox::Migration),
            Box::new(m20261205_000014_no_side_indexes::Migration),
            Box::new(m20261205_000015_no_time_index::Migration),
            Box::new(m20261205_000016_no_key_index::Migration),
            Box::new(m20261205_000017_lean_seal_queue::Migration),
            Box::new(m20261206_000018_swap_without_locks::Migration),
            Box::new(m20261206_000019_no_entry_account_fk::Migration),
            Box::new(m20261206_000020_seal_queue_per_write::Migration),
            Box::new(m20261206_000021_entries_by_position::Migration),
            Box::new(m20261206_000022_no_account_head_hash::Migration),
        ]
    }
}
