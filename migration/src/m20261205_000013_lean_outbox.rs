//! A leaner outbox: three things each event or delivery no longer writes.
//!
//! A delivery's last attempt on its own row: when it started and how long
//! it took (its status code and error were already there). A first answer
//! of 2xx then needs no `webhook_attempt` row: the attempt log derives a
//! delivered delivery's successful attempt from these columns, so the
//! common case (delivered on the first try) writes no attempt row and no
//! entry in the attempt table's two indexes. Failures keep their rows, and
//! a redelivery first writes the derived attempt out as a row.
//!
//! Existing deliveries keep their attempt rows and have NULL here, so
//! nothing is derived for them (nothing is shown twice).
//!
//! And a `transfer.posted` event names its transfer (`transfer_id`) and
//! stores no body: the body is derived from the transfer's and its
//! entries' rows, which never change, whenever it is sent. Every such event
//! wrote a second copy of its transfer (about 900 bytes) before. Existing
//! events keep their stored bodies.
//!
//! And three of the deliveries' six indexes go: the claim reads pending
//! deliveries by `seq` a window at a time, carrying what is held up from
//! one window to the next, so it no longer probes for the earliest pending
//! delivery per endpoint-account (`ix_delivery_pending_a`, `_b`) or looks
//! pending deliveries up by due time (`ix_delivery_due`). Every delivery
//! paid an entry in each.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000013_lean_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one per ALTER TABLE.
        for (table, column) in [
            ("webhook_delivery", timestamp_with_time_zone_null("last_started_at")),
            ("webhook_delivery", big_integer_null("last_latency_ms")),
            ("webhook_event", uuid_null("transfer_id")),
        ] {
            m.alter_table(Table::alter().table(table).add_column(column).to_owned())
                .await?;
        }
        m.get_connection()
            .execute_unprepared(
                "DROP INDEX ix_delivery_due; DROP INDEX ix_delivery_pending_a; DROP INDEX ix_delivery_pending_b;",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_delivery_due ON webhook_delivery (next_attempt_at) WHERE status = 'PENDING'; \
                 CREATE INDEX ix_delivery_pending_a ON webhook_delivery (endpoint_id, account_a, seq) \
                   WHERE status = 'PENDING'; \
                 CREATE INDEX ix_delivery_pending_b ON webhook_delivery (endpoint_id, account_b, seq) \
                   WHERE status = 'PENDING';",
            )
            .await?;
        for (table, column) in [
            ("webhook_event", "transfer_id"),
            ("webhook_delivery", "last_latency_ms"),
            ("webhook_delivery", "last_started_at"),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
