//! A lease on a singleton role (the sealer): who holds it, under which
//! epoch, until when. Every takeover bumps `epoch`; a holder's writes
//! re-check their epoch, so a holder that was replaced cannot write.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lease")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
    pub holder: Option<Uuid>,
    pub epoch: i64,
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
