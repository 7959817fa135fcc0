//! A transfer no longer pays an index by idempotency key (112 bytes of WAL
//! per transfer): the idempotency record already holds its outcome's first
//! transfer, and now also the others (`more_transfer_ids`, 16 bytes per id,
//! NULL for the usual one-transfer outcome), so replay and
//! `transferByIdempotencyKey` read transfers by primary key. Existing
//! records of outcomes with several transfers (splits, exchanges) get their
//! list here, from the index, before it is dropped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::Uuid;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000016_no_key_index"
    }
}

/// The transfers of recorded outcomes other than each record's first, by
/// key, in id order (the order replay always answered in).
const MORE: &str = "SELECT t.idempotency_key AS k, t.id AS id FROM transfer t \
    JOIN idempotency r ON r.key = t.idempotency_key \
    WHERE r.transfer_id IS NOT NULL AND t.id <> r.transfer_id \
    ORDER BY t.idempotency_key, t.id";

/// SQLite's append-only trigger on the table, as migration 2 created it.
const SQLITE_NO_UPDATE: &str = "CREATE TRIGGER idempotency_no_update BEFORE UPDATE ON idempotency \
    BEGIN SELECT RAISE(ABORT, 'tally: UPDATE on idempotency is refused: history is append-only'); END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (the trigger is lifted and restored, and the index dropped, all or nothing).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let backend = m.get_database_backend();
        m.alter_table(
            Table::alter()
                .table(Alias::new("idempotency"))
                .add_column(ColumnDef::new(Alias::new("more_transfer_ids")).binary().null())
                .to_owned(),
        )
        .await?;
        let rows = db.query_all_raw(Statement::from_string(backend, MORE)).await?;
        let mut lists: Vec<(String, Vec<u8>)> = Vec::new();
        for row in rows {
            let key: String = row.try_get("", "k")?;
            let id: Uuid = row.try_get("", "id")?;
            match lists.last_mut() {
                Some((k, ids)) if *k == key => ids.extend_from_slice(id.as_bytes()),
                _ => lists.push((key, id.as_bytes().to_vec())),
            }
        }
        if !lists.is_empty() {
            // History is append-only at run time; its owner fills the new
            // column of old records once, here.
            db.execute_unprepared(match backend {
                DbBackend::Postgres => "ALTER TABLE idempotency DISABLE TRIGGER idempotency_append_only",
                _ => "DROP TRIGGER idempotency_no_update",
            })
            .await?;
            let set = match backend {
                DbBackend::Postgres => "UPDATE idempotency SET more_transfer_ids = $1 WHERE key = $2",
                _ => "UPDATE idempotency SET more_transfer_ids = ? WHERE key = ?",
            };
            for (key, ids) in lists {
                let values: [Value; 2] = [ids.into(), key.into()];
                db.execute_raw(Statement::from_sql_and_values(backend, set, values))
                    .await?;
            }
            db.execute_unprepared(match backend {
                DbBackend::Postgres => "ALTER TABLE idempotency ENABLE TRIGGER idempotency_append_only",
                _ => SQLITE_NO_UPDATE,
            })
            .await?;
        }
        db.execute_unprepared("DROP INDEX ix_transfer_key").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("CREATE INDEX ix_transfer_key ON transfer (idempotency_key)")
            .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("idempotency"))
                .drop_column(Alias::new("more_transfer_ids"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
