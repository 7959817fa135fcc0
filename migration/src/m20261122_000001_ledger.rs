//! The core ledger: currencies, accounts, transfers, entries, idempotency records.
//!
//! Money columns are TEXT holding exact decimal strings (see `entity::Money`):
//! SeaORM's `decimal` becomes REAL on SQLite, which is a double.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::iso4217::CURRENCIES;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_ledger"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(currency_table()).await?;
        m.create_table(account_table()).await?;
        m.create_table(transfer_table()).await?;
        m.create_table(entry_table()).await?;
        m.create_table(idempotency_table()).await?;
        m.create_table(hold_table()).await?;
        for index in indexes() {
            m.create_index(index).await?;
        }
        m.exec_stmt(seed_currencies()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["hold", "idempotency", "entry", "transfer", "account", "currency"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

fn currency_table() -> TableCreateStatement {
    Table::create()
        .table("currency")
        .col(text("code").primary_key())
        .col(integer("scale"))
        .col(timestamp_with_time_zone("created_at"))
        .to_owned()
}

fn account_table() -> TableCreateStatement {
    Table::create()
        .table("account")
        .col(pk_uuid("id"))
        .col(text("code").unique_key())
        .col(text("currency"))
        .col(text("balance"))
        .col(text("held_balance"))
        .col(text_null("min_balance"))
        .col(text("status"))
        .col(boolean("is_system"))
        .col(big_integer("version"))
        .col(big_integer("entry_count"))
        .col(blob("head_hash"))
        .col(timestamp_with_time_zone_null("last_entry_at"))
        .col(json_binary_null("metadata"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_account_currency")
                .from("account", "currency")
                .to("currency", "code"),
        )
        .to_owned()
}

fn transfer_table() -> TableCreateStatement {
    Table::create()
        .table("transfer")
        .col(pk_uuid("id"))
        .col(text("kind"))
        .col(uuid("debit_account_id"))
        .col(uuid("credit_account_id"))
        .col(text("amount"))
        .col(text("currency"))
        // Not unique: one key may name several transfers (a split's parts);
        // the idempotency table's primary key is what allows one outcome per key.
        .col(text("idempotency_key"))
        .col(uuid_null("reversal_of"))
        .col(uuid_null("hold_id"))
        .col(text_null("description"))
        .col(json_binary_null("metadata"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_transfer_debit")
                .from("transfer", "debit_account_id")
                .to("account", "id"),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_transfer_credit")
                .from("transfer", "credit_account_id")
                .to("account", "id"),
        )
        .to_owned()
}

fn entry_table() -> TableCreateStatement {
    Table::create()
        .table("entry")
        .col(pk_uuid("id"))
        .col(uuid("account_id"))
        .col(uuid("transfer_id"))
        .col(text("amount"))
        .col(text("balance_after"))
        .col(big_integer("sequence"))
        .col(timestamp_with_time_zone("created_at"))
        .col(blob("previous_hash"))
        .col(blob("hash"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_entry_account")
                .from("entry", "account_id")
                .to("account", "id"),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_entry_transfer")
                .from("entry", "transfer_id")
                .to("transfer", "id"),
        )
        .to_owned()
}

fn idempotency_table() -> TableCreateStatement {
    Table::create()
        .table("idempotency")
        .col(text("key").primary_key())
        .col(blob("fingerprint"))
        .col(uuid_null("transfer_id"))
        .col(uuid_null("hold_id"))
        .col(uuid_null("account_id"))
        .col(text_null("error_code"))
        .col(text_null("error_message"))
        .col(timestamp_with_time_zone("created_at"))
        .to_owned()
}

fn hold_table() -> TableCreateStatement {
    Table::create()
        .table("hold")
        .col(pk_uuid("id"))
        .col(uuid("debit_account_id"))
        .col(uuid("credit_account_id"))
        .col(text("currency"))
        .col(text("amount"))
        .col(text("captured_amount"))
        .col(text("status"))
        .col(timestamp_with_time_zone("expires_at"))
        .col(text("idempotency_key"))
        .col(big_integer("version"))
        .col(text_null("description"))
        .col(json_binary_null("metadata"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_hold_debit")
                .from("hold", "debit_account_id")
                .to("account", "id"),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_hold_credit")
                .from("hold", "credit_account_id")
                .to("account", "id"),
        )
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("ix_transfer_key")
            .table("transfer")
            .col("idempotency_key")
            .to_owned(),
        Index::create()
            .name("ix_transfer_reversal_of")
            .table("transfer")
            .col("reversal_of")
            .to_owned(),
        // The expiry worker's scan: pending holds by due time.
        Index::create()
            .name("ix_hold_status_expires")
            .table("hold")
            .col("status")
            .col("expires_at")
            .to_owned(),
        Index::create()
            .name("ix_hold_debit")
            .table("hold")
            .col("debit_account_id")
            .to_owned(),
        // Gapless per-account sequence; also the keyset index for entry pages.
        Index::create()
            .name("ux_entry_account_sequence")
            .table("entry")
            .col("account_id")
            .col("sequence")
            .unique()
            .to_owned(),
        // balanceAt: the last entry at or before a time is one index probe.
        Index::create()
            .name("ix_entry_account_created")
            .table("entry")
            .col("account_id")
            .col("created_at")
            .col("sequence")
            .to_owned(),
        Index::create()
            .name("ix_entry_transfer")
            .table("entry")
            .col("transfer_id")
            .to_owned(),
        Index::create()
            .name("ix_transfer_debit")
            .table("transfer")
            .col("debit_account_id")
            .to_owned(),
        Index::create()
            .name("ix_transfer_credit")
            .table("transfer")
            .col("credit_account_id")
            .to_owned(),
    ]
}

fn seed_currencies() -> InsertStatement {
    let mut insert = Query::insert();
    insert.into_table("currency").columns(["code", "scale", "created_at"]);
    for (code, scale) in CURRENCIES {
        insert.values_panic([(*code).into(), (*scale).into(), Expr::current_timestamp()]);
    }
    insert.to_owned()
}
