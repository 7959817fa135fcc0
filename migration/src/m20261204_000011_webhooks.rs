//! Webhooks and balance alerts: endpoints, the outbox of events (written in
//! the transaction of the change they report), one delivery per event and
//! endpoint with its attempts, and alert rules.
//!
//! `seq` columns are assigned at insert. An event or delivery is inserted
//! under the row locks of the accounts it concerns, so for any one account
//! `seq` increases in commit order: that is what orders deliveries per
//! account and lets a subscriber resume alerts without gaps.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000011_webhooks"
    }
}

/// Partial indexes (the same text on both backends): the worker's claim
/// walks pending deliveries in `seq` order (or the due ones, when most
/// wait for a retry) and stops at its limit; each ordering check is two
/// probes of an endpoint's pending deliveries by account (one per account
/// column), never a scan of the backlog.
const INDEXES: &str = "
CREATE INDEX ix_delivery_pending ON webhook_delivery (seq) WHERE status = 'PENDING';
CREATE INDEX ix_delivery_due ON webhook_delivery (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX ix_delivery_pending_a ON webhook_delivery (endpoint_id, account_a, seq) WHERE status = 'PENDING';
CREATE INDEX ix_delivery_pending_b ON webhook_delivery (endpoint_id, account_b, seq) WHERE status = 'PENDING';
CREATE INDEX ix_delivery_endpoint ON webhook_delivery (endpoint_id, seq);
CREATE INDEX ix_event_account ON webhook_event (account_a, seq);
CREATE INDEX ix_attempt_delivery ON webhook_attempt (delivery_seq, attempt);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhook_endpoint")
                .col(uuid("id").primary_key())
                .col(text("url"))
                .col(text("secret"))
                // Comma-separated; NULL: every event type / every account.
                .col(text_null("event_types"))
                .col(text_null("account_ids"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_event")
                .col(big_pk_auto("seq"))
                .col(uuid_uniq("id"))
                .col(text("kind"))
                .col(uuid_null("account_a"))
                .col(uuid_null("account_b"))
                .col(text("payload"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_delivery")
                .col(big_pk_auto("seq"))
                .col(uuid("event_id"))
                .col(uuid("endpoint_id"))
                .col(uuid_null("account_a"))
                .col(uuid_null("account_b"))
                .col(text("status"))
                .col(integer("attempts").default(0))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("leased_until"))
                .col(integer_null("last_status_code"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_attempt")
                .col(uuid("id").primary_key())
                .col(big_integer("delivery_seq"))
                .col(integer("attempt"))
                .col(timestamp_with_time_zone("started_at"))
                .col(integer_null("status_code"))
                .col(text_null("error"))
                .col(big_integer("latency_ms"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("balance_alert")
                .col(uuid("id").primary_key())
                // Exactly one of the two: an account, or every account of a currency.
                .col(uuid_null("account_id"))
                .col(text_null("currency"))
                .col(text("condition"))
                .col(text("threshold"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(INDEXES).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "balance_alert",
            "webhook_attempt",
            "webhook_delivery",
            "webhook_event",
            "webhook_endpoint",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
