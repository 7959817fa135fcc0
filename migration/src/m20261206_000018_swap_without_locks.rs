//! The write-back's compare-and-swap of accounts as one function
//! (PostgreSQL only): it updates the run's accounts one by one in ascending
//! id order (the order of every row lock the engine takes), each only where
//! its version is still the one the run read, and on the first miss undoes
//! every update it made and returns false.
//!
//! The statement used to lock the rows first (`SELECT … FOR NO KEY
//! UPDATE`, in id order) and then update them: the lock is a WAL record of
//! its own, 54 bytes per account, two per transfer, for rows the update
//! locks anyway. An `UPDATE` whose condition is the version takes the row
//! lock itself and checks the latest committed version (read committed
//! re-reads a row that changed while it waited), so the separate lock only
//! bought the order — which a loop gives too. The undo is the loop's
//! `EXCEPTION` block (a subtransaction: 12 bytes more on the commit record,
//! not a rolled-back transaction, and no ERROR in the database's log: a
//! miss is an expected, returned flag).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000018_swap_without_locks"
    }
}

const UP: &str = "\
CREATE FUNCTION tally_swap_accounts(ids uuid[], read_versions int8[], balances text[], held_balances text[],
  statuses text[], versions int8[], entry_counts int8[], last_entry_ats timestamptz[],
  expected int8) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r record;
BEGIN
  IF coalesce(cardinality(ids), 0) <> expected THEN
    RAISE EXCEPTION 'tally_swap_accounts: % accounts, % expected', cardinality(ids), expected;
  END IF;
  FOR r IN
    SELECT * FROM unnest(ids, read_versions, balances, held_balances, statuses, versions, entry_counts,
      last_entry_ats) AS v(id, read_version, balance, held_balance, status, version, entry_count, last_entry_at)
    ORDER BY id
  LOOP
    UPDATE account SET balance = r.balance, held_balance = r.held_balance, status = r.status,
      version = r.version, entry_count = r.entry_count, last_entry_at = r.last_entry_at
    WHERE id = r.id AND version = r.read_version;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'TL001';
    END IF;
  END LOOP;
  RETURN true;
EXCEPTION WHEN SQLSTATE 'TL001' THEN
  RETURN false;
END
$$";

const DOWN: &str = "DROP FUNCTION tally_swap_accounts(uuid[], int8[], text[], text[], text[], int8[], int8[], \
    timestamptz[], int8)";

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
