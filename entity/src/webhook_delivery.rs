//! One event to one endpoint: pending until delivered or dead. Deliveries of
//! one endpoint sharing an account go out one at a time, in `seq` order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub account_a: Option<Uuid>,
    pub account_b: Option<Uuid>,
    pub status: crate::DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// While a worker is sending it; a lapsed lease (a killed instance)
    /// lets another worker send it again.
    pub leased_until: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
    /// When the last attempt started and how long it took (with
    /// `last_status_code`, `last_error`): a delivered delivery's successful
    /// attempt is derived from these, not stored as an attempt row.
    pub last_started_at: Option<DateTimeUtc>,
    pub last_latency_ms: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
