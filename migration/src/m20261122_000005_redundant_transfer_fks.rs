//! Drops the transfer → account foreign keys (PostgreSQL only).
//!
//! Every transfer is written in the same statement as its two entries, one
//! on its debit account and one on its credit account, and each entry's own
//! foreign key already proves its account exists (and keeps it from being
//! deleted). The transfer's two keys checked the same two rows again: two
//! more trigger queries per transfer, about a quarter of a 100-transfer
//! batch's time in the database. `tally verify` checks that each transfer's
//! entries are on its debit and credit accounts. SQLite cannot drop a
//! constraint without rebuilding the table and does not need the speed, so
//! it keeps them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000005_redundant_transfer_fks"
    }
}

const UP: &str = "ALTER TABLE transfer DROP CONSTRAINT fk_transfer_debit, DROP CONSTRAINT fk_transfer_credit";

const DOWN: &str = "ALTER TABLE transfer \
    ADD CONSTRAINT fk_transfer_debit FOREIGN KEY (debit_account_id) REFERENCES account (id), \
    ADD CONSTRAINT fk_transfer_credit FOREIGN KEY (credit_account_id) REFERENCES account (id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
