//! Batched webhook deliveries: an endpoint may take up to `max_batch_size`
//! events in one signed POST. 1 (every existing endpoint) keeps the
//! one-event body.
//!
//! And on PostgreSQL, room on each page of `webhook_delivery` (fillfactor
//! 70): the worker's claim updates only the lease and attempt count, no
//! indexed column, so with room on the page the new row version is a HOT
//! update, with no entry in any of the table's six indexes; on a full page
//! it cost an entry in each. (New pages only; existing ones fill as before.)
//!
//! And the events' account index holds balance alerts only (the one query
//! that reads events by account, the alert subscription, asks for those):
//! a `transfer.posted` event no longer pays an entry in it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000012_webhook_batches"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("webhook_endpoint")
                .add_column(integer("max_batch_size").default(1))
                .to_owned(),
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("ALTER TABLE webhook_delivery SET (fillfactor = 70)")
                .await?;
        }
        m.get_connection()
            .execute_unprepared(
                "DROP INDEX ix_event_account; \
                 CREATE INDEX ix_event_alert ON webhook_event (account_a, seq) WHERE kind = 'balance.alert';",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "DROP INDEX ix_event_alert; CREATE INDEX ix_event_account ON webhook_event (account_a, seq);",
            )
            .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("ALTER TABLE webhook_delivery RESET (fillfactor)")
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table("webhook_endpoint")
                .drop_column("max_batch_size")
                .to_owned(),
        )
        .await
    }
}
