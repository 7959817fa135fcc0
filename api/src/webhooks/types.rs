//! GraphQL types of webhooks and balance alerts: thin wrappers over rows.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use service::Ledger;
use service::entity::{balance_alert, webhook_delivery, webhook_endpoint};
use service::model::event::EventKind;

use crate::error::{GqlResult, IntoGql};
use crate::scalars::{Id, Money};

/// What an endpoint can be told about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WebhookEventType {
    /// A transfer committed, with its entries (`transfer.posted`).
    TransferPosted,
    /// `hold.created`
    HoldCreated,
    /// `hold.captured`
    HoldCaptured,
    /// `hold.voided`
    HoldVoided,
    /// `hold.expired` (released by the expiry worker)
    HoldExpired,
    /// `account.created`
    AccountCreated,
    /// `account.archived` (also by a merge)
    AccountArchived,
    /// `balance.alert`: an available balance crossed an alert's threshold.
    BalanceAlert,
}

impl From<WebhookEventType> for EventKind {
    fn from(t: WebhookEventType) -> Self {
        use WebhookEventType as W;
        match t {
            W::TransferPosted => EventKind::TransferPosted,
            W::HoldCreated => EventKind::HoldCreated,
            W::HoldCaptured => EventKind::HoldCaptured,
            W::HoldVoided => EventKind::HoldVoided,
            W::HoldExpired => EventKind::HoldExpired,
            W::AccountCreated => EventKind::AccountCreated,
            W::AccountArchived => EventKind::AccountArchived,
            W::BalanceAlert => EventKind::BalanceAlert,
        }
    }
}

impl From<EventKind> for WebhookEventType {
    fn from(k: EventKind) -> Self {
        use WebhookEventType as W;
        match k {
            EventKind::TransferPosted => W::TransferPosted,
            EventKind::HoldCreated => W::HoldCreated,
            EventKind::HoldCaptured => W::HoldCaptured,
            EventKind::HoldVoided => W::HoldVoided,
            EventKind::HoldExpired => W::HoldExpired,
            EventKind::AccountCreated => W::AccountCreated,
            EventKind::AccountArchived => W::AccountArchived,
            EventKind::BalanceAlert => W::BalanceAlert,
        }
    }
}

/// A delivery is pending until delivered, or dead after its last attempt.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "service::entity::DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

/// Which side of its threshold an alert watches.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "service::entity::AlertCondition")]
pub enum AlertCondition {
    /// The available balance is below the threshold.
    Below,
    /// The available balance is above the threshold.
    Above,
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where events are POSTed: an `http://` or `https://` URL.
    pub url: String,
    /// The event types it wants (default: all).
    pub event_types: Option<Vec<WebhookEventType>>,
    /// Only events about these accounts (default: all accounts; at most 1,000).
    pub account_ids: Option<Vec<Id>>,
    /// The HMAC key of its signatures, 16–256 characters (default: generated).
    pub secret: Option<String>,
    #[graphql(default = true)]
    pub enabled: bool,
    /// The most events one POST carries, 1–1000 (default 1: one event per
    /// POST). Above 1, every POST has the batch body `{"events": [...]}`.
    pub max_batch_size: Option<i32>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: Id,
    pub url: String,
    pub event_types: Option<Vec<WebhookEventType>>,
    pub account_ids: Option<Vec<Id>>,
    /// A disabled endpoint keeps its deliveries pending until enabled again.
    pub enabled: bool,
    /// 1–1000; absent: unchanged.
    pub max_batch_size: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateBalanceAlertInput {
    /// The account to watch; or give `currency` to watch every account of it.
    pub account_id: Option<Id>,
    pub currency: Option<String>,
    pub condition: AlertCondition,
    /// At the currency's scale; may be zero or negative.
    pub threshold: Money,
}

pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> Id {
        Id(self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// `null`: every type.
    async fn event_types(&self) -> Option<Vec<WebhookEventType>> {
        let types = self.0.event_types.as_deref()?;
        Some(types.split(',').filter_map(EventKind::parse).map(Into::into).collect())
    }
    /// `null`: every account.
    async fn account_ids(&self) -> Option<Vec<Id>> {
        let ids = self.0.account_ids.as_deref()?;
        Some(ids.split(',').filter_map(|id| id.parse().ok()).map(Id).collect())
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The most events one POST carries (1: the one-event body).
    async fn max_batch_size(&self) -> i32 {
        self.0.max_batch_size
    }
    /// The HMAC-SHA256 key of `Tally-Webhook-Signature` (admin only, like every webhook field).
    async fn secret(&self) -> &str {
        &self.0.secret
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct WebhookDelivery(pub webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    /// Also the delivery's position: deliveries sharing an account are sent in this order.
    async fn id(&self) -> ID {
        ID(self.0.seq.to_string())
    }
    /// The event's id, the same on every attempt (receivers deduplicate on it).
    async fn event_id(&self) -> Id {
        Id(self.0.event_id)
    }
    async fn endpoint_id(&self) -> Id {
        Id(self.0.endpoint_id)
    }
    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status.into()
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// When the next attempt is due (while PENDING).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == service::entity::DeliveryStatus::Pending).then_some(self.0.next_attempt_at)
    }
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The event: its type and the exact body sent.
    async fn event(&self, ctx: &Context<'_>) -> GqlResult<Option<WebhookEvent>> {
        let ledger = ctx.data::<Ledger>()?;
        let found = service::store::webhook::events(ledger, &[self.0.event_id])
            .await
            .gql()?;
        Ok(found.into_iter().next().map(|e| WebhookEvent {
            event_type: EventKind::parse(&e.kind).map(Into::into),
            body: Json(serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null)),
        }))
    }
    /// Every attempt, oldest first: status code, error, latency.
    async fn attempt_log(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookAttempt>> {
        let ledger = ctx.data::<Ledger>()?;
        let rows = service::store::webhook::attempt_log(ledger, &self.0).await.gql()?;
        Ok(rows
            .into_iter()
            .map(|a| WebhookAttempt {
                attempt: a.attempt,
                started_at: a.started_at,
                status_code: a.status_code,
                error: a.error,
                latency_ms: a.latency_ms,
            })
            .collect())
    }
}

#[derive(SimpleObject)]
pub struct WebhookEvent {
    pub event_type: Option<WebhookEventType>,
    /// The JSON body POSTed (`{ id, type, createdAt, data }`).
    pub body: Json<serde_json::Value>,
}

#[derive(SimpleObject)]
pub struct WebhookAttempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    /// The HTTP status, when an answer came.
    pub status_code: Option<i32>,
    /// Why it failed: a status outside 2xx, a timeout, a refused connection.
    pub error: Option<String>,
    pub latency_ms: i64,
}

pub struct BalanceAlert {
    pub row: balance_alert::Model,
}

#[Object]
impl BalanceAlert {
    async fn id(&self) -> Id {
        Id(self.row.id)
    }
    async fn account_id(&self) -> Option<Id> {
        self.row.account_id.map(Id)
    }
    async fn currency(&self) -> Option<&str> {
        self.row.currency.as_deref()
    }
    async fn condition(&self) -> AlertCondition {
        self.row.condition.into()
    }
    async fn threshold(&self) -> Money {
        Money(self.row.threshold.0)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}

/// Whether a crossing entered the alert's condition or left it.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AlertState {
    Triggered,
    Resolved,
}

/// One crossing of an alert's threshold by an account's available balance.
#[derive(SimpleObject, Clone, Debug)]
pub struct BalanceAlertEvent {
    pub event_id: Id,
    pub alert_id: Id,
    pub account_id: Id,
    pub currency: String,
    pub condition: AlertCondition,
    pub threshold: Money,
    pub available_balance: Money,
    pub state: AlertState,
    pub at: DateTime<Utc>,
}

impl BalanceAlertEvent {
    /// From a `balance.alert` event's body.
    pub fn parse(body: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let d = &v["data"];
        let text = |x: &serde_json::Value| x.as_str().map(str::to_owned);
        let uuid = |x: &serde_json::Value| x.as_str()?.parse().ok().map(Id);
        let money = |x: &serde_json::Value| x.as_str()?.parse::<rust_decimal::Decimal>().ok().map(Money);
        Some(Self {
            event_id: uuid(&v["id"])?,
            alert_id: uuid(&d["alert"]["id"])?,
            account_id: uuid(&d["accountId"])?,
            currency: text(&d["currency"])?,
            condition: match d["alert"]["condition"].as_str()? {
                "BELOW" => AlertCondition::Below,
                _ => AlertCondition::Above,
            },
            threshold: money(&d["alert"]["threshold"])?,
            available_balance: money(&d["availableBalance"])?,
            state: match d["state"].as_str()? {
                "TRIGGERED" => AlertState::Triggered,
                _ => AlertState::Resolved,
            },
            at: v["createdAt"].as_str()?.parse().ok()?,
        })
    }
}
