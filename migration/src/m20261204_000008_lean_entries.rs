//! Leaner entries on PostgreSQL: two index insertions and two trigger
//! checks fewer per transfer, with no guarantee given up.
//!
//! - The primary key becomes `(account_id, sequence)`, taking over the
//!   unique index that already held that pair (the gap-free sequence and the
//!   entry pages' keyset): the separate index on `id`, which no query reads,
//!   goes. `id` stays a column: unique by construction (UUID v7), the API's
//!   `Entry.id`.
//! - The entry → transfer foreign key goes: every entry is written in the
//!   same statement as its transfer, history is append-only (the triggers
//!   refuse deleting a transfer), and `tally verify` checks that each
//!   transfer has exactly its two entries and each entry its transfer. The
//!   entry → account key stays: it is what proves an entry's account exists.
//!
//! SQLite keeps its tables (changing a primary key there means rebuilding
//! the table, and the embedded backend does not need the speed).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000008_lean_entries"
    }
}

const UP: &str = "\
ALTER TABLE entry DROP CONSTRAINT fk_entry_transfer;
ALTER TABLE entry DROP CONSTRAINT entry_pkey;
ALTER TABLE entry ADD CONSTRAINT entry_pkey PRIMARY KEY USING INDEX ux_entry_account_sequence;";

const DOWN: &str = "\
ALTER TABLE entry DROP CONSTRAINT entry_pkey;
CREATE UNIQUE INDEX ux_entry_account_sequence ON entry (account_id, sequence);
ALTER TABLE entry ADD CONSTRAINT entry_pkey PRIMARY KEY (id);
ALTER TABLE entry ADD CONSTRAINT fk_entry_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (id);";

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
