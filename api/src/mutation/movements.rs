//! Batches, splits and reversals.

use async_graphql::{Context, InputObject, Object};
use service::Ledger;
use service::operations::transfer::SplitRequest;

use super::{Metadata, TransferInput, details};
use crate::error::{GqlResult, IntoGql};
use crate::scalars::{Id, Money};
use crate::types::{PostTransfersPayload, SplitTransferPayload, Transfer};

#[derive(InputObject)]
pub struct PostTransfersInput {
    /// 1 to 1,000 transfers, each with its own idempotencyKey.
    pub transfers: Vec<TransferInput>,
    /// true: all or nothing (the error's `extensions.index` names the failing
    /// item). false: every item gets its own result.
    #[graphql(default = true)]
    pub atomic: bool,
}

#[derive(InputObject)]
pub struct SplitPartInput {
    pub account_id: Id,
    /// A positive share; parts get amount × weight / Σweights, largest remainder.
    pub weight: Money,
}

#[derive(InputObject)]
pub struct SplitTransferInput {
    pub from_account_id: Id,
    pub amount: Money,
    pub idempotency_key: String,
    pub parts: Vec<SplitPartInput>,
    pub description: Option<String>,
    pub metadata: Metadata,
    /// When the split took effect (see `DepositInput.effectiveAt`).
    pub effective_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(InputObject)]
pub struct ReverseTransferInput {
    pub transfer_id: Id,
    pub idempotency_key: String,
    /// Default: everything not yet reversed.
    pub amount: Option<Money>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

#[derive(Default)]
pub struct MovementMutation;

#[Object(guard = "crate::auth::Policy::mutation()")]
impl MovementMutation {
    /// Up to 1,000 transfers in one database transaction (accounts locked once each, in id order).
    #[graphql(
        guard = "crate::auth::Policy::mutation().owning(input.transfers.iter().map(|t| t.from_account_id.0)).backdating(input.transfers.iter().filter_map(|t| t.effective_at).min())"
    )]
    async fn post_transfers(&self, ctx: &Context<'_>, input: PostTransfersInput) -> GqlResult<PostTransfersPayload> {
        let items = input.transfers.into_iter().map(Into::into).collect();
        let outcomes = service::operations::transfer::post_batch(ctx.data::<Ledger>()?, items, input.atomic)
            .await
            .gql()?;
        Ok(PostTransfersPayload::new(outcomes))
    }

    /// Divides `amount` over `parts` at the currency's scale (largest remainder;
    /// ties go to the earlier part): the parts always sum exactly to the amount.
    #[graphql(
        guard = "crate::auth::Policy::mutation().owning([input.from_account_id.0]).backdating(input.effective_at)"
    )]
    async fn split_transfer(&self, ctx: &Context<'_>, input: SplitTransferInput) -> GqlResult<SplitTransferPayload> {
        let request = SplitRequest {
            from_account_id: input.from_account_id.0,
            amount: input.amount.0,
            parts: input.parts.into_iter().map(|p| (p.account_id.0, p.weight.0)).collect(),
            details: details(
                input.idempotency_key,
                input.description,
                input.metadata,
                input.effective_at,
            ),
        };
        service::operations::transfer::split(ctx.data::<Ledger>()?, request)
            .await
            .map(Into::into)
            .gql()
    }

    /// A compensating transfer, full or partial; the reversals of a transfer
    /// never exceed it, and a reversal cannot be reversed.
    async fn reverse_transfer(&self, ctx: &Context<'_>, input: ReverseTransferInput) -> GqlResult<Transfer> {
        let d = details(input.idempotency_key, input.description, input.metadata, None);
        let amount = input.amount.map(|m| m.0);
        service::operations::transfer::reverse(ctx.data::<Ledger>()?, input.transfer_id.0, amount, d)
            .await
            .map(Transfer)
            .gql()
    }
}
