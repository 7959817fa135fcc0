//! The transactional outbox: events and their deliveries, inserted in the
//! transaction of the change they report (so a rolled-back change sends
//! nothing and a committed one is never missed). On PostgreSQL the posting
//! engine carries a run's outbox rows in its one write-back statement
//! (`posting::pg_write`); everything else inserts them here.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::event::{Event, EventKind};
use crate::store::hooks::Hooks;
use entity::{DeliveryStatus, webhook_delivery, webhook_event};

/// One pending delivery of an event to an endpoint.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub accounts: (Option<Uuid>, Option<Uuid>),
    pub created_at: DateTime<Utc>,
}

/// A change's outbox rows, in the order of the changes (`seq` follows it).
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    pub events: Vec<Event>,
    pub deliveries: Vec<Delivery>,
}

impl Outbox {
    /// `events` with one pending delivery per endpoint that wants each. An
    /// event no endpoint wants is dropped, except balance alerts, which
    /// subscriptions read from the outbox too.
    pub fn of(hooks: &Hooks, events: Vec<Event>) -> Self {
        let mut out = Outbox::default();
        for event in events {
            let endpoints = hooks.wanting(event.kind, event.accounts);
            if endpoints.is_empty() && event.kind != EventKind::BalanceAlert {
                continue;
            }
            out.deliveries.extend(endpoints.into_iter().map(|endpoint_id| Delivery {
                event_id: event.id,
                endpoint_id,
                accounts: event.accounts,
                created_at: event.created_at,
            }));
            out.events.push(event);
        }
        out
    }

    /// The events whose bodies are derived (the outbox stores none), as
    /// the rows the worker reads, bodies moved out: for the writing
    /// instance to keep once they are committed.
    pub fn take_derived(&mut self) -> Vec<webhook_event::Model> {
        self.events
            .iter_mut()
            .filter(|e| e.transfer_id.is_some())
            .map(|e| webhook_event::Model {
                seq: 0,
                id: e.id,
                kind: e.kind.as_str().to_owned(),
                account_a: e.accounts.0,
                account_b: e.accounts.1,
                payload: std::mem::take(&mut e.body),
                transfer_id: e.transfer_id,
                created_at: e.created_at,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.deliveries.is_empty()
    }
}

/// Writes `events` (see [`Outbox::of`]) with separate inserts.
pub(crate) async fn write(db: &impl ConnectionTrait, hooks: &Hooks, events: Vec<Event>) -> Result<()> {
    insert(db, Outbox::of(hooks, events)).await
}

/// Inserts an outbox's rows, events first.
pub(crate) async fn insert(db: &impl ConnectionTrait, outbox: Outbox) -> Result<()> {
    let rows: Vec<_> = outbox
        .events
        .into_iter()
        .map(|event| webhook_event::ActiveModel {
            seq: NotSet,
            id: Set(event.id),
            kind: Set(event.kind.as_str().to_owned()),
            account_a: Set(event.accounts.0),
            account_b: Set(event.accounts.1),
            transfer_id: Set(event.transfer_id),
            created_at: Set(event.created_at),
            payload: Set(event.into_stored_body()),
        })
        .collect();
    let deliveries: Vec<_> = outbox
        .deliveries
        .into_iter()
        .map(|d| webhook_delivery::ActiveModel {
            seq: NotSet,
            event_id: Set(d.event_id),
            endpoint_id: Set(d.endpoint_id),
            account_a: Set(d.accounts.0),
            account_b: Set(d.accounts.1),
            status: Set(DeliveryStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(d.created_at),
            leased_until: Set(None),
            last_status_code: Set(None),
            last_error: Set(None),
            delivered_at: Set(None),
            last_started_at: Set(None),
            last_latency_ms: Set(None),
            created_at: Set(d.created_at),
        })
        .collect();
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
