//! Tamper evidence beside the per-account chains: transfer hashes, the sealed
//! journal (leaves in seal order), blocks, the queue of transfers awaiting a
//! seal, and triggers that make history append-only inside the database.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_seal"
    }
}

/// Tables whose rows, once written, never change.
const APPEND_ONLY: [&str; 5] = ["transfer", "entry", "idempotency", "journal", "block"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("transfer")
                .add_column(blob_null("hash"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("unsealed")
                .col(pk_uuid("transfer_id"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("journal")
                .col(big_integer("leaf_index").primary_key())
                .col(uuid("transfer_id").unique_key())
                .col(blob("transfer_hash"))
                .col(big_integer("height"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("block")
                .col(big_integer("height").primary_key())
                .col(blob("previous_hash"))
                .col(blob("merkle_root"))
                .col(big_integer("tree_size"))
                .col(big_integer("transfer_count"))
                .col(timestamp_with_time_zone("sealed_at"))
                .col(blob("block_hash"))
                .col(blob("frontier"))
                .to_owned(),
        )
        .await?;
        for sql in append_only_sql(m.get_database_backend()) {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["block", "journal", "unsealed"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
fn append_only_sql(backend: DbBackend) -> Vec<String> {
    match backend {
        DbBackend::Postgres => {
            let mut sql = vec![
                "CREATE OR REPLACE FUNCTION tally_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION 'tally: % on % is refused: history is append-only', TG_OP, TG_TABLE_NAME \
                 USING ERRCODE = 'insufficient_privilege'; END $$"
                    .to_owned(),
            ];
            for t in APPEND_ONLY {
                sql.push(format!(
                    "CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} \
                     FOR EACH ROW EXECUTE FUNCTION tally_append_only()"
                ));
                sql.push(format!(
                    "CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} \
                     FOR EACH STATEMENT EXECUTE FUNCTION tally_append_only()"
                ));
            }
            sql
        }
        _ => APPEND_ONLY
            .iter()
            .flat_map(|t| {
                ["UPDATE", "DELETE"].map(|op| {
                    format!(
                        "CREATE TRIGGER {t}_no_{} BEFORE {op} ON {t} \
                         BEGIN SELECT RAISE(ABORT, 'tally: {op} on {t} is refused: history is append-only'); END",
                        op.to_lowercase()
                    )
                })
            })
            .collect(),
    }
}
