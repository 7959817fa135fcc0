//! Mutations: one service call each. Inputs are converted, never interpreted.

mod exchange;
mod holds;
mod lifecycle;
mod movements;

use async_graphql::MergedObject;

use async_graphql::{Context, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use service::Ledger;
use service::operations::transfer::Details;
use service::operations::transfer::Movement;
use service::operations::transfer::TransferRequest;
use service::store::account::NewAccount;

use crate::error::{GqlResult, IntoGql};
use crate::scalars::{Id, Money};
use crate::types::{Account, Transfer};

pub(crate) type Metadata = Option<Json<serde_json::Value>>;

#[derive(InputObject)]
pub struct CreateAccountInput {
    /// Unique client reference, 1–255 characters; `world:` is reserved.
    pub code: String,
    /// ISO 4217 code (or a custom asset); its scale bounds every amount.
    pub currency: String,
    /// The floor, default "0"; negative = overdraft limit.
    pub min_balance: Option<Money>,
    pub metadata: Metadata,
    /// The end user this account belongs to: a bearer token whose `sub`
    /// equals it may act on the account (see README, "Security").
    pub owner: Option<String>,
}

#[derive(InputObject)]
pub struct DepositInput {
    pub account_id: Id,
    pub amount: Money,
    /// 1–255 characters; the same key and request returns the original outcome.
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    /// When the movement took effect, for importing history with its
    /// original dates: not in the future; earlier than the server's
    /// backdating window it needs the admin scope. Default: when committed.
    pub effective_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct WithdrawInput {
    pub account_id: Id,
    pub amount: Money,
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    /// When the movement took effect, for importing history with its
    /// original dates: not in the future; earlier than the server's
    /// backdating window it needs the admin scope. Default: when committed.
    pub effective_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct TransferInput {
    pub from_account_id: Id,
    pub to_account_id: Id,
    pub amount: Money,
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    /// When the movement took effect, for importing history with its
    /// original dates: not in the future; earlier than the server's
    /// backdating window it needs the admin scope. Default: when committed.
    pub effective_at: Option<DateTime<Utc>>,
}

#[derive(MergedObject, Default)]
pub struct Mutation(
    CoreMutation,
    movements::MovementMutation,
    holds::HoldMutation,
    lifecycle::LifecycleMutation,
    exchange::ExchangeMutation,
    crate::webhooks::WebhookMutation,
);

#[derive(Default)]
pub struct CoreMutation;

#[Object(guard = "crate::auth::Policy::mutation()")]
impl CoreMutation {
    async fn create_account(&self, ctx: &Context<'_>, input: CreateAccountInput) -> GqlResult<Account> {
        let new = NewAccount {
            code: input.code,
            currency: input.currency,
            min_balance: input.min_balance.map(|m| m.0),
            metadata: input.metadata.map(|j| j.0),
            owner: input.owner,
        };
        service::operations::account::create(ctx.data::<Ledger>()?, new)
            .await
            .map(Account)
            .gql()
    }

    /// Money in: from the currency's world account to `accountId`.
    #[graphql(guard = "crate::auth::Policy::mutation().backdating(input.effective_at)")]
    async fn deposit(&self, ctx: &Context<'_>, input: DepositInput) -> GqlResult<Transfer> {
        service::operations::transfer::deposit(ctx.data::<Ledger>()?, input.into())
            .await
            .map(Transfer)
            .gql()
    }

    /// Money out: from `accountId` to the currency's world account.
    #[graphql(guard = "crate::auth::Policy::mutation().backdating(input.effective_at)")]
    async fn withdraw(&self, ctx: &Context<'_>, input: WithdrawInput) -> GqlResult<Transfer> {
        service::operations::transfer::withdraw(ctx.data::<Ledger>()?, input.into())
            .await
            .map(Transfer)
            .gql()
    }

    #[graphql(
        guard = "crate::auth::Policy::mutation().owning([input.from_account_id.0]).backdating(input.effective_at)"
    )]
    async fn transfer(&self, ctx: &Context<'_>, input: TransferInput) -> GqlResult<Transfer> {
        service::operations::transfer::transfer(ctx.data::<Ledger>()?, input.into())
            .await
            .map(Transfer)
            .gql()
    }
}

/// Deposits and withdrawals take the same fields under two input names
/// (each its own contract); one conversion serves both.
macro_rules! movement_from {
    ($($input:ty),*) => {$(
        impl From<$input> for Movement {
            fn from(input: $input) -> Self {
                Movement {
                    account_id: input.account_id.0,
                    amount: input.amount.0,
                    details: details(input.idempotency_key, input.description, input.metadata, input.effective_at),
                }
            }
        }
    )*};
}

movement_from!(DepositInput, WithdrawInput);

pub(crate) fn details(
    key: String,
    description: Option<String>,
    metadata: Metadata,
    effective_at: Option<DateTime<Utc>>,
) -> Details {
    Details {
        idempotency_key: key,
        description,
        metadata: metadata.map(|j| j.0),
        effective_at,
    }
}

impl From<TransferInput> for TransferRequest {
    fn from(input: TransferInput) -> Self {
        TransferRequest {
            from_account_id: input.from_account_id.0,
            to_account_id: input.to_account_id.0,
            amount: input.amount.0,
            details: details(
                input.idempotency_key,
                input.description,
                input.metadata,
                input.effective_at,
            ),
        }
    }
}
