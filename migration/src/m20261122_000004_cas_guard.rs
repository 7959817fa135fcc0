//! A guard for the write-back's compare-and-swap (PostgreSQL only).
//!
//! The engine's write-back is one statement that updates every changed
//! account where the version still matches and inserts the run's rows. Run
//! outside a transaction (the engine's optimistic path), a shortfall must
//! undo the whole statement, so the statement passes the count it matched
//! through this function, which raises a serialization failure (SQLSTATE
//! 40001) when it falls short of the count expected. SQLite runs the
//! write-back in a transaction and checks the count itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000004_cas_guard"
    }
}

const UP: &str = "\
CREATE FUNCTION tally_cas_guard(matched bigint, expected bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF matched IS DISTINCT FROM expected THEN
    RAISE EXCEPTION 'compare-and-swap matched % of % accounts', matched, expected
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN matched;
END
$$";

const DOWN: &str = "DROP FUNCTION tally_cas_guard(bigint, bigint)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
