//! Two-phase transfers.

use async_graphql::{Context, InputObject, Object};
use chrono::{DateTime, Utc};
use service::Ledger;
use service::operations::hold::NewHold;

use super::Metadata;
use crate::error::{GqlResult, IntoGql, integrity};
use crate::scalars::{Id, Money};
use crate::types::Hold;

#[derive(InputObject)]
pub struct CreateHoldInput {
    pub from_account_id: Id,
    pub to_account_id: Id,
    pub amount: Money,
    pub idempotency_key: String,
    /// After this, the hold can no longer be captured and its funds are released.
    pub expires_at: DateTime<Utc>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

#[derive(InputObject)]
pub struct CaptureHoldInput {
    pub hold_id: Id,
    /// Default: the whole hold. The rest is released.
    pub amount: Option<Money>,
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct VoidHoldInput {
    pub hold_id: Id,
    pub idempotency_key: String,
}

#[derive(Default)]
pub struct HoldMutation;

#[Object(guard = "crate::auth::Policy::mutation()")]
impl HoldMutation {
    /// Reserves funds: the from-account's availableBalance drops now, its balance on capture.
    #[graphql(guard = "crate::auth::Policy::mutation().owning([input.from_account_id.0])")]
    async fn create_hold(&self, ctx: &Context<'_>, input: CreateHoldInput) -> GqlResult<Hold> {
        let new = NewHold {
            from_account_id: input.from_account_id.0,
            to_account_id: input.to_account_id.0,
            amount: input.amount.0,
            idempotency_key: input.idempotency_key,
            expires_at: input.expires_at,
            description: input.description,
            metadata: input.metadata.map(|j| j.0),
        };
        hold_of(service::operations::hold::create(ctx.data::<Ledger>()?, new).await)
    }

    async fn capture_hold(&self, ctx: &Context<'_>, input: CaptureHoldInput) -> GqlResult<Hold> {
        let amount = input.amount.map(|m| m.0);
        let ledger = ctx.data::<Ledger>()?;
        hold_of(service::operations::hold::capture(ledger, input.hold_id.0, amount, input.idempotency_key).await)
    }

    async fn void_hold(&self, ctx: &Context<'_>, input: VoidHoldInput) -> GqlResult<Hold> {
        hold_of(service::operations::hold::void(ctx.data::<Ledger>()?, input.hold_id.0, input.idempotency_key).await)
    }
}

fn hold_of(effect: Result<service::Effect, service::LedgerError>) -> GqlResult<Hold> {
    let effect = effect.gql()?;
    effect
        .hold
        .map(Hold)
        .ok_or_else(|| integrity("a hold operation's outcome has no hold".to_owned()))
}
