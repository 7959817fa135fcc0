//! Only reversals set `transfer.reversal_of`, yet a plain index takes an entry
//! for every transfer's NULL. A partial index holds the reversals alone, so an
//! ordinary transfer writes one index entry less. Lookups (`reversal_of IN
//! (…)`) imply NOT NULL, so they use it exactly as before.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_sparse_reversal_index"
    }
}

const OLD: &str = "ix_transfer_reversal_of";
const NEW: &str = "ix_transfer_reversal";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NEW)
                .table("transfer")
                .col("reversal_of")
                .and_where(Expr::col("reversal_of").is_not_null())
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(OLD).table("transfer").to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(OLD)
                .table("transfer")
                .col("reversal_of")
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(NEW).table("transfer").to_owned()).await
    }
}
