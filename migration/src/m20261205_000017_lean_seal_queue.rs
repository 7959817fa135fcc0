//! The seal queue keeps just the transfer id, with no index: a transfer is
//! queued once by construction (in the transaction that inserts it, whose
//! primary key is unique), and the queue is small (the sealer drains it
//! every few hundred milliseconds), so the sealer reads it whole and
//! deletes what it sealed without one. Its primary key and time cost each
//! transfer 83 bytes of WAL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000017_lean_seal_queue"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (SQLite rebuilds the queue table: all or nothing, or the queue could be lost).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => {
                "ALTER TABLE unsealed DROP CONSTRAINT unsealed_pkey; ALTER TABLE unsealed DROP COLUMN created_at;"
            }
            // SQLite drops neither a primary key nor its column: the table is rebuilt.
            _ => {
                "CREATE TABLE unsealed_new (transfer_id uuid_text NOT NULL); \
                 INSERT INTO unsealed_new (transfer_id) SELECT transfer_id FROM unsealed; \
                 DROP TABLE unsealed; \
                 ALTER TABLE unsealed_new RENAME TO unsealed;"
            }
        };
        m.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => {
                "ALTER TABLE unsealed ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(); \
                 ALTER TABLE unsealed ADD PRIMARY KEY (transfer_id);"
            }
            _ => {
                "CREATE TABLE unsealed_old (transfer_id uuid_text NOT NULL PRIMARY KEY, \
                   created_at timestamp_with_timezone_text NOT NULL); \
                 INSERT INTO unsealed_old SELECT transfer_id, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') FROM unsealed; \
                 DROP TABLE unsealed; \
                 ALTER TABLE unsealed_old RENAME TO unsealed;"
            }
        };
        m.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}
