//! The transactional outbox: events and their deliveries, inserted in the
//! transaction of the change they report (so a rolled-back change sends
//! nothing and a committed one is never missed).

use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};

use crate::model::error::Result;
use crate::model::event::{Event, EventKind};
use crate::store::hooks::Hooks;
use entity::{DeliveryStatus, webhook_delivery, webhook_event};

/// Writes `events` with one pending delivery per endpoint that wants each.
/// An event no endpoint wants is dropped, except balance alerts, which
/// subscriptions read from the outbox too.
pub(crate) async fn write(db: &impl ConnectionTrait, hooks: &Hooks, events: Vec<Event>) -> Result<()> {
    let mut rows = Vec::new();
    let mut deliveries = Vec::new();
    for event in events {
        let endpoints = hooks.wanting(event.kind, event.accounts);
        if endpoints.is_empty() && event.kind != EventKind::BalanceAlert {
            continue;
        }
        for endpoint in endpoints {
            deliveries.push(webhook_delivery::ActiveModel {
                seq: NotSet,
                event_id: Set(event.id),
                endpoint_id: Set(endpoint),
                account_a: Set(event.accounts.0),
                account_b: Set(event.accounts.1),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(event.created_at),
                leased_until: Set(None),
                last_status_code: Set(None),
                last_error: Set(None),
                delivered_at: Set(None),
                created_at: Set(event.created_at),
            });
        }
        rows.push(webhook_event::ActiveModel {
            seq: NotSet,
            id: Set(event.id),
            kind: Set(event.kind.as_str().to_owned()),
            account_a: Set(event.accounts.0),
            account_b: Set(event.accounts.1),
            payload: Set(event.body),
            created_at: Set(event.created_at),
        });
    }
    // In the order of the changes: `seq` follows it.
    for chunk in rows.chunks(200) {
        webhook_event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    for chunk in deliveries.chunks(200) {
        webhook_delivery::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
