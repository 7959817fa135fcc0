//! Where webhooks go: a URL, the secret their signatures use, and the event
//! kinds and accounts it wants (`None`: all).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    /// Comma-separated event kinds (`transfer.posted`, …).
    pub event_types: Option<String>,
    /// Comma-separated account ids.
    pub account_ids: Option<String>,
    pub enabled: bool,
    /// The most events one POST carries; above 1 every POST has the batch
    /// body (`{"events": […]}`).
    pub max_batch_size: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
