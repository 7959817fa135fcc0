//! One try at a delivery: what the endpoint answered and how long it took.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub delivery_seq: i64,
    /// 1 for the first try.
    pub attempt: i32,
    pub started_at: DateTimeUtc,
    /// The HTTP status, when an answer came.
    pub status_code: Option<i32>,
    /// Why it failed, when it did (a status outside 2xx, a timeout, a refused connection).
    pub error: Option<String>,
    pub latency_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
