use async_graphql::{Context, Enum, Json, Object};
use chrono::{DateTime, Utc};
use service::entity::hold;

use super::Account;
use super::transfer::load_account;
use crate::error::GqlResult;
use crate::scalars::{Id, Money};

pub struct Hold(pub hold::Model);

// The stored states, variant for variant (`remote`).
/// A hold leaves PENDING exactly once: CAPTURED, VOIDED or EXPIRED.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "HoldStatus", remote = "service::entity::HoldStatus")]
pub enum HoldStatus {
    Pending,
    Captured,
    Voided,
    Expired,
}

#[Object]
impl Hold {
    async fn id(&self) -> Id {
        Id(self.0.id)
    }
    async fn status(&self) -> HoldStatus {
        self.0.status.into()
    }
    /// The amount reserved.
    async fn amount(&self) -> Money {
        Money(self.0.amount.0)
    }
    /// What a capture posted (zero until captured).
    async fn captured_amount(&self) -> Money {
        Money(self.0.captured_amount.0)
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The account whose funds are held (its heldBalance includes this hold while PENDING).
    async fn from_account(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        load_account(ctx, self.0.debit_account_id).await
    }
    async fn to_account(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        load_account(ctx, self.0.credit_account_id).await
    }
}
