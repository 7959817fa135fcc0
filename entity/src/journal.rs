//! The sealed journal: leaf `leaf_index` of the ledger's Merkle tree is the
//! transfer hash of `transfer_id`. Append-only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "journal")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub leaf_index: i64,
    pub transfer_id: Uuid,
    pub transfer_hash: Vec<u8>,
    /// The block that sealed it.
    pub height: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
