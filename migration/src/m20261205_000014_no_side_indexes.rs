//! A transfer no longer pays an entry in an index by debit account and one
//! by credit account: an account's transfers are read through its entries
//! (the entry primary key is (account, sequence), and each entry names its
//! transfer), which also pages them in the order the account saw them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000014_no_side_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX ix_transfer_debit; DROP INDEX ix_transfer_credit;")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_transfer_debit ON transfer (debit_account_id); \
                 CREATE INDEX ix_transfer_credit ON transfer (credit_account_id);",
            )
            .await?;
        Ok(())
    }
}
