//! The one outcome recorded under an idempotency key: the transfer it created,
//! or the business refusal it met. The primary key makes a second outcome
//! impossible. Never updated, never deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 of the canonical request; a different request under the key is refused.
    pub fingerprint: Vec<u8>,
    /// The first transfer of the outcome (all of them share the key).
    pub transfer_id: Option<Uuid>,
    /// The outcome's other transfers, in order, 16 bytes per id; `None`
    /// when it made at most one. (Replay reads an outcome's transfers by id
    /// from here: no index by key on `transfer`.)
    pub more_transfer_ids: Option<Vec<u8>>,
    pub hold_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
