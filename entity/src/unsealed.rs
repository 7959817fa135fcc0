//! Committed transfers waiting for the sealer: one row per write-back,
//! listing its transfers (16 bytes each, migration 20). Inserted in the
//! posting transaction, deleted in the sealing transaction: exactly-once by
//! construction. The table has no index (migration 17): the model's key is
//! SeaORM's, not the database's.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unsealed")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub transfer_ids: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The row for a write-back's transfers.
    pub fn of(ids: impl IntoIterator<Item = Uuid>) -> Self {
        Self {
            transfer_ids: ids.into_iter().flat_map(|id| id.into_bytes()).collect(),
        }
    }

    /// The transfers this row queues; `None` when the list is malformed
    /// (not a whole number of ids).
    pub fn ids(&self) -> Option<Vec<Uuid>> {
        if !self.transfer_ids.len().is_multiple_of(16) {
            return None;
        }
        Some(
            self.transfer_ids
                .chunks_exact(16)
                .map(|b| Uuid::from_bytes(b.try_into().unwrap_or_default()))
                .collect(),
        )
    }
}
