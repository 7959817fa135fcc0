//! Leases on singleton roles (the sealer), fenced by an epoch: they replace
//! the session advisory lock, which a failover silently drops and which
//! transaction-pooling proxies break. One row per role.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000007_lease"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("lease")
                .col(text("role").primary_key())
                .col(uuid_null("holder"))
                .col(big_integer("epoch").default(0))
                .col(timestamp_with_time_zone_null("expires_at"))
                .to_owned(),
        )
        .await?;
        let seed = Query::insert()
            .into_table("lease")
            .columns(["role", "epoch"])
            .values_panic(["sealer".into(), 0i64.into()])
            .to_owned();
        m.exec_stmt(seed).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("lease").to_owned()).await
    }
}
