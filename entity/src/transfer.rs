//! One atomic movement of money from a debit account to a credit account.
//! Never updated, never deleted.

use sea_orm::entity::prelude::*;

use crate::Money;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: crate::TransferKind,
    pub debit_account_id: Uuid,
    pub credit_account_id: Uuid,
    pub amount: Money,
    pub currency: String,
    /// Not unique: a split's parts share their request's key.
    pub idempotency_key: String,
    /// For a REVERSAL: the transfer it compensates.
    pub reversal_of: Option<Uuid>,
    /// For a CAPTURE: the hold it settles.
    pub hold_id: Option<Uuid>,
    pub description: Option<String>,
    pub metadata: Option<Json>,
    pub created_at: DateTimeUtc,
    /// When the movement took effect, if earlier than its commit (imported
    /// history); `None`: effective when committed.
    pub effective_at: Option<DateTimeUtc>,
    /// SHA-256 over the transfer's canonical content and its entries' hashes.
    pub hash: Option<Vec<u8>>,
    /// Where its debit entry sits in the debit account's chain: with the
    /// account, the entry's primary key (migration 21; every transfer has
    /// it, the column allows NULL only so a damaged row can be read).
    pub debit_sequence: Option<i64>,
    /// Where its credit entry sits in the credit account's chain.
    pub credit_sequence: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
