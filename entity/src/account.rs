//! An account: the one mutable ledger row, holding the stored total (balance),
//! the floor, the version bumped on every change and the length of its hash
//! chain (its head is the latest entry's hash).

use sea_orm::entity::prelude::*;

use crate::Money;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub code: String,
    pub currency: String,
    pub balance: Money,
    /// Σ of pending holds debiting this account; available = balance - held.
    pub held_balance: Money,
    /// The lowest balance allowed; `None` means unbounded (system accounts).
    pub min_balance: Option<Money>,
    pub status: crate::AccountStatus,
    pub is_system: bool,
    pub version: i64,
    pub entry_count: i64,
    /// Hash of the latest entry, or 32 zero bytes before the first. Not a
    /// column (migration 22): it is the latest entry's `hash`, which the
    /// engine reads with the row it locks (`store::account::lock`); other
    /// reads leave it empty.
    #[sea_orm(ignore)]
    pub head_hash: Vec<u8>,
    /// `created_at` of the latest entry; new entries never go below it.
    pub last_entry_at: Option<DateTimeUtc>,
    pub metadata: Option<Json>,
    pub created_at: DateTimeUtc,
    /// The end user this account belongs to (a token's `sub` may act on it).
    pub owner: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
