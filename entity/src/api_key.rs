//! An API key: a name, a scope and the SHA-256 of the secret (the secret
//! itself is shown once, at creation, and never stored).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    /// `read`, `write` or `admin`.
    pub scope: String,
    #[sea_orm(unique)]
    pub key_hash: Vec<u8>,
    /// The secret's first characters, to tell keys apart in listings.
    pub key_prefix: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
