//! A sealed block: the Merkle root of the whole journal up to `tree_size`,
//! chained to the previous block. Append-only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "block")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub height: i64,
    pub previous_hash: Vec<u8>,
    pub merkle_root: Vec<u8>,
    pub tree_size: i64,
    pub transfer_count: i64,
    pub sealed_at: DateTimeUtc,
    pub block_hash: Vec<u8>,
    /// The tree's right edge after this block (`proof::Frontier` bytes), so
    /// the next seal appends without rereading the journal.
    pub frontier: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
