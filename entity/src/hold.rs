//! A two-phase transfer: funds reserved on the debit account (its
//! `held_balance`) until captured, voided or expired. The status moves once,
//! from PENDING to CAPTURED, VOIDED or EXPIRED; `version` guards that move.

use sea_orm::entity::prelude::*;

use crate::Money;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hold")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub debit_account_id: Uuid,
    pub credit_account_id: Uuid,
    pub currency: String,
    pub amount: Money,
    pub captured_amount: Money,
    pub status: crate::HoldStatus,
    pub expires_at: DateTimeUtc,
    pub idempotency_key: String,
    pub version: i64,
    pub description: Option<String>,
    pub metadata: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
