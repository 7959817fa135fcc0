//! The outbox: one row per reported change, written in the change's own
//! transaction. `seq` is assigned at insert, under the locks of the accounts
//! the event concerns, so per account it follows commit order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The event's public id: receivers deduplicate on it.
    #[sea_orm(unique)]
    pub id: Uuid,
    /// `transfer.posted`, `hold.created`, …, `balance.alert`.
    pub kind: String,
    /// The (at most two) client accounts the event concerns.
    pub account_a: Option<Uuid>,
    pub account_b: Option<Uuid>,
    /// The JSON body sent to endpoints; empty for a `transfer.posted`
    /// event, whose body is derived from `transfer_id`'s rows.
    pub payload: String,
    pub transfer_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
