//! Batched webhook deliveries: an endpoint may take up to `max_batch_size`
//! events in one signed POST. 1 (every existing endpoint) keeps the
//! one-event body.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

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
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("webhook_endpoint")
                .drop_column("max_batch_size")
                .to_owned(),
        )
        .await
    }
}
