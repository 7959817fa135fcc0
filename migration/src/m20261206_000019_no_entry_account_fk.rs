//! Drops the entry → account foreign key (PostgreSQL), and refuses every
//! delete of an account instead (both backends).
//!
//! The key's check took a `FOR KEY SHARE` lock on the account row for every
//! entry inserted: a WAL record of 54 bytes per entry (two per transfer) and
//! a trigger query each, for a row the same statement had just updated.
//! What it proved is proved without it: the engine inserts an entry only in
//! the write-back that compare-and-swaps its account (the statement writes
//! nothing unless every account it moves was updated), and accounts are
//! never deleted — now not even one without entries, which the key allowed:
//! `DELETE` (and, on PostgreSQL, `TRUNCATE`) of `account` is refused like
//! any change to history. `tally verify` names an entry whose account is
//! missing. SQLite keeps its key (dropping one rebuilds the table, and it
//! does not need the speed).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000019_no_entry_account_fk"
    }
}

const PG_UP: &str = "\
ALTER TABLE entry DROP CONSTRAINT fk_entry_account;
CREATE TRIGGER account_no_delete BEFORE DELETE ON account FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON account FOR EACH STATEMENT EXECUTE FUNCTION tally_append_only();";

const PG_DOWN: &str = "\
DROP TRIGGER account_no_truncate ON account;
DROP TRIGGER account_no_delete ON account;
ALTER TABLE entry ADD CONSTRAINT fk_entry_account FOREIGN KEY (account_id) REFERENCES account (id);";

const SQLITE_UP: &str = "CREATE TRIGGER account_no_delete BEFORE DELETE ON account \
    BEGIN SELECT RAISE(ABORT, 'tally: DELETE on account is refused: history is append-only'); END";

const SQLITE_DOWN: &str = "DROP TRIGGER account_no_delete";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => PG_UP,
            _ => SQLITE_UP,
        };
        m.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => PG_DOWN,
            _ => SQLITE_DOWN,
        };
        m.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}
