//! Indexes for account queries (`accounts(filter:)`, `balanceTotals`), so a
//! filter stays an index scan on a million accounts: metadata containment
//! (PostgreSQL: GIN over the JSONB with `jsonb_path_ops`, which serves `@>`),
//! a code prefix (`text_pattern_ops`: `LIKE 'abc%'` under any collation),
//! and a currency with the keyset order. None of these columns changes when
//! money moves, so the balance updates stay HOT and pay nothing for them.
//! SQLite gets the currency index (its code prefix uses the unique code
//! index; it has no JSON index to speak of).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000009_account_queries"
    }
}

const PG_UP: &str = "\
CREATE INDEX ix_account_metadata ON account USING gin (metadata jsonb_path_ops);
CREATE INDEX ix_account_code_prefix ON account (code text_pattern_ops);";

const PG_DOWN: &str = "DROP INDEX ix_account_metadata; DROP INDEX ix_account_code_prefix;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_account_currency")
                .table("account")
                .col("currency")
                .col("id")
                .to_owned(),
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(PG_UP).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(PG_DOWN).await?;
        }
        m.drop_index(Index::drop().name("ix_account_currency").table("account").to_owned())
            .await
    }
}
