//! Effective dates: a movement may carry the time it took effect
//! (`effective_at`, never later than its commit) beside the time it was
//! committed (`created_at`), for importing history with its original dates.
//! NULL means "effective when committed", so every existing row keeps its
//! meaning and its hash. The partial index holds backdated entries only:
//! an ordinary entry pays nothing for it, and a balance at an effective time
//! is the committed balance corrected by the backdated entries in between.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000010_effective_dates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["transfer", "entry"] {
            m.alter_table(
                Table::alter()
                    .table(table)
                    .add_column(timestamp_with_time_zone_null("effective_at"))
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_entry_backdated")
                .table("entry")
                .col("account_id")
                .col("effective_at")
                .and_where(Expr::col("effective_at").is_not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_entry_backdated").table("entry").to_owned())
            .await?;
        for table in ["transfer", "entry"] {
            m.alter_table(Table::alter().table(table).drop_column("effective_at").to_owned())
                .await?;
        }
        Ok(())
    }
}
