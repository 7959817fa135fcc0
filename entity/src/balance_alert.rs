//! A balance alert rule: an account's (or every account of a currency's)
//! available balance below or above a threshold. Edge-triggered: an event
//! per crossing, decided by the posting engine on the locked rows.

use sea_orm::entity::prelude::*;

use crate::Money;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "balance_alert")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    pub currency: Option<String>,
    pub condition: crate::AlertCondition,
    pub threshold: Money,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
