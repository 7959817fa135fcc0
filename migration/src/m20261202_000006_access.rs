//! Access control: API keys (only their SHA-256 is stored) and an optional
//! `owner` on accounts, the subject an end-user token may act for.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000006_access"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("api_key")
                .col(pk_uuid("id"))
                .col(text("name").unique_key())
                .col(text("scope"))
                .col(blob("key_hash").unique_key())
                .col(text("key_prefix"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("account")
                .add_column(text_null("owner"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("account").drop_column("owner").to_owned())
            .await?;
        m.drop_table(Table::drop().table("api_key").to_owned()).await
    }
}
