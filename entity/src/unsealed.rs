//! A committed transfer waiting for the sealer. Inserted in the posting
//! transaction, deleted in the sealing transaction: exactly-once by construction.
//! The table has no index (migration 17): the model's key is SeaORM's, not
//! the database's.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unsealed")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub transfer_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
