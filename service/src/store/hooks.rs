//! Webhook endpoints and balance alerts as the engine sees them: a snapshot
//! of the enabled endpoints and every alert rule, held by the ledger and
//! replaced whole on refresh (this instance's changes at once, other
//! instances' within one refresh interval). The engine reads it once per
//! run; when it is empty, runs do no event work at all.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::event::EventKind;
use entity::{balance_alert, webhook_endpoint};

/// An enabled endpoint and what it wants (`None`: everything).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: Uuid,
    pub kinds: Option<HashSet<EventKind>>,
    pub accounts: Option<HashSet<Uuid>>,
}

impl Endpoint {
    fn wants(&self, kind: EventKind, (a, b): (Option<Uuid>, Option<Uuid>)) -> bool {
        let kind_ok = self.kinds.as_ref().is_none_or(|k| k.contains(&kind));
        let account_ok = self
            .accounts
            .as_ref()
            .is_none_or(|set| [a, b].into_iter().flatten().any(|id| set.contains(&id)));
        kind_ok && account_ok
    }
}

/// What the engine consults.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub endpoints: Vec<Endpoint>,
    pub alerts: Vec<balance_alert::Model>,
}

impl Hooks {
    /// Whether any change must be looked at.
    pub fn active(&self) -> bool {
        !self.endpoints.is_empty() || !self.alerts.is_empty()
    }

    /// The endpoints that want an event of `kind` about `accounts`.
    pub fn wanting(&self, kind: EventKind, accounts: (Option<Uuid>, Option<Uuid>)) -> Vec<Uuid> {
        self.endpoints
            .iter()
            .filter(|e| e.wants(kind, accounts))
            .map(|e| e.id)
            .collect()
    }

    /// Whether any endpoint wants events of `kind` at all.
    pub fn wants_kind(&self, kind: EventKind) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.kinds.as_ref().is_none_or(|k| k.contains(&kind)))
    }

    /// The alert rules watching `account` (of `currency`).
    pub fn alerts_on<'a>(&'a self, account: Uuid, currency: &'a str) -> impl Iterator<Item = &'a balance_alert::Model> {
        self.alerts
            .iter()
            .filter(move |a| a.account_id == Some(account) || a.currency.as_deref() == Some(currency))
    }
}

/// The ledger's current snapshot, shared by its clones.
#[derive(Default)]
pub struct HookCell(RwLock<Arc<Hooks>>);

impl HookCell {
    pub(crate) fn get(&self) -> Arc<Hooks> {
        self.0.read().map(|h| Arc::clone(&h)).unwrap_or_default()
    }

    pub(crate) fn set(&self, hooks: Hooks) {
        if let Ok(mut h) = self.0.write() {
            *h = Arc::new(hooks);
        }
    }
}

/// Endpoints (enabled ones) and alerts as stored now.
pub(crate) async fn load(db: &impl ConnectionTrait) -> Result<Hooks> {
    let endpoints = webhook_endpoint::Entity::find()
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter(|e| e.enabled)
        .map(|e| Endpoint {
            id: e.id,
            kinds: e
                .event_types
                .as_deref()
                .map(|t| t.split(',').filter_map(EventKind::parse).collect()),
            accounts: e
                .account_ids
                .as_deref()
                .map(|t| t.split(',').filter_map(|id| id.parse().ok()).collect()),
        })
        .collect();
    let alerts = balance_alert::Entity::find()
        .order_by_asc(balance_alert::Column::Id)
        .all(db)
        .await?;
    Ok(Hooks { endpoints, alerts })
}
