//! The account row no longer stores its chain's head (`head_hash`): it is
//! the latest entry's `hash`, which the engine reads by primary key with the
//! row it locks. Each account update wrote those 32 bytes again (the row's
//! changed middle is what an update's WAL record carries): 66 bytes per
//! transfer. The chain stays anchored: every entry's hash covers its
//! predecessor's, each transfer's hash covers its entries' hashes, and the
//! journal seals the transfer hashes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000022_no_account_head_hash"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("ALTER TABLE account DROP COLUMN head_hash")
            .await?;
        Ok(())
    }

    /// The column comes back filled from each account's latest entry.
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("account"))
                .add_column(ColumnDef::new(Alias::new("head_hash")).binary().null())
                .to_owned(),
        )
        .await?;
        let zero = match m.get_database_backend() {
            DbBackend::Postgres => "decode(repeat('00', 32), 'hex')",
            _ => "zeroblob(32)",
        };
        m.get_connection()
            .execute_unprepared(&format!(
                "UPDATE account SET head_hash = coalesce((SELECT e.hash FROM entry e \
                 WHERE e.account_id = account.id AND e.sequence = account.entry_count), {zero})"
            ))
            .await?;
        Ok(())
    }
}
