//! An entry no longer pays an index by (account, created_at, sequence): an
//! account's entry times never decrease along its sequence (the engine
//! writes max(now, the account's last entry time), and verify checks it), so
//! "the last entry at or before t" is a binary search over the primary key
//! (account, sequence) — a few probes per read instead of two index
//! insertions per transfer.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000015_no_time_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX ix_entry_account_created;")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("CREATE INDEX ix_entry_account_created ON entry (account_id, created_at, sequence);")
            .await?;
        Ok(())
    }
}
