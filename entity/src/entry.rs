//! One side of a transfer on one account, with the running balance and the
//! account's hash chain link. Never updated, never deleted.

use sea_orm::entity::prelude::*;

use crate::Money;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "entry")]
pub struct Model {
    /// Unique by construction (UUID v7); not indexed on PostgreSQL, where
    /// entries are found by their account and sequence.
    pub id: Uuid,
    /// With `sequence`, the key: an account's entries in order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub transfer_id: Uuid,
    /// Signed: negative = money out of the account.
    pub amount: Money,
    pub balance_after: Money,
    /// 1, 2, 3… per account, no gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    pub created_at: DateTimeUtc,
    /// Its transfer's effective time, if earlier than the commit.
    pub effective_at: Option<DateTimeUtc>,
    /// The previous entry's hash as entries posted before 2026-12-05
    /// stored it; empty since (it is that entry's `hash`, and the chain walk
    /// has it): 32 bytes less per entry.
    pub previous_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
