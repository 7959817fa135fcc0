//! One seal-queue row per write-back instead of one per transfer: the row
//! lists the write-back's transfers (`transfer_ids`, 16 bytes each). A row's
//! insert and the sealer's delete cost about 125 bytes of WAL whatever it
//! holds, so a write-back of four transfers now pays that once, and a
//! postTransfers batch of a hundred once instead of a hundred times. The
//! sealer still reads the small queue whole and deletes the rows it sealed
//! (each is unique: a transfer is queued once, by the write-back that
//! inserts it). Existing rows become one-transfer rows. One transaction on
//! SQLite too, which rebuilds the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000020_seal_queue_per_write"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => {
                "ALTER TABLE unsealed ADD COLUMN transfer_ids bytea; \
                 UPDATE unsealed SET transfer_ids = uuid_send(transfer_id); \
                 ALTER TABLE unsealed ALTER COLUMN transfer_ids SET NOT NULL, DROP COLUMN transfer_id;"
            }
            // SQLite stores a uuid as its 16 bytes already.
            _ => {
                "CREATE TABLE unsealed_new (transfer_ids blob NOT NULL); \
                 INSERT INTO unsealed_new (transfer_ids) SELECT transfer_id FROM unsealed; \
                 DROP TABLE unsealed; \
                 ALTER TABLE unsealed_new RENAME TO unsealed;"
            }
        };
        m.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    /// Back to one row per transfer (PostgreSQL splits each list; SQLite,
    /// without a splitting function, walks each list 16 bytes at a time).
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => {
                "CREATE TABLE unsealed_old (transfer_id uuid NOT NULL); \
                 INSERT INTO unsealed_old SELECT encode(substring(transfer_ids FROM i FOR 16), 'hex')::uuid \
                   FROM unsealed, generate_series(1, length(transfer_ids), 16) AS i; \
                 DROP TABLE unsealed; \
                 ALTER TABLE unsealed_old RENAME TO unsealed;"
            }
            _ => {
                "CREATE TABLE unsealed_old (transfer_id uuid_text NOT NULL); \
                 WITH RECURSIVE s(rest) AS (SELECT transfer_ids FROM unsealed \
                   UNION ALL SELECT substr(rest, 17) FROM s WHERE length(rest) > 16) \
                 INSERT INTO unsealed_old SELECT substr(rest, 1, 16) FROM s; \
                 DROP TABLE unsealed; \
                 ALTER TABLE unsealed_old RENAME TO unsealed;"
            }
        };
        m.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}
