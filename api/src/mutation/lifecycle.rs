//! Account lifecycle and custom currencies.

use async_graphql::{Context, InputObject, Object};
use service::Ledger;
use service::operations::account::AccountUpdate;

use super::Metadata;
use crate::error::{GqlResult, IntoGql};
use crate::scalars::{Id, Money};
use crate::types::{Account, AccountPayload, Currency};

#[derive(InputObject)]
pub struct UpdateAccountInput {
    pub id: Id,
    /// The version you last read; a stale one is VERSION_CONFLICT.
    pub expected_version: i64,
    pub min_balance: Option<Money>,
    pub metadata: Metadata,
}

#[derive(InputObject)]
pub struct ArchiveAccountInput {
    pub id: Id,
    pub idempotency_key: String,
    /// Where to move a remaining balance (pending holds are voided).
    pub sweep_to_account_id: Option<Id>,
}

#[derive(InputObject)]
pub struct MergeAccountsInput {
    pub source_id: Id,
    pub target_id: Id,
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct CreateCurrencyInput {
    /// 1–16 of A–Z, 0–9, `_` (e.g. POINTS).
    pub code: String,
    /// 0–18 decimal places.
    pub scale: i32,
}

#[derive(Default)]
pub struct LifecycleMutation;

#[Object(guard = "crate::auth::Policy::mutation()")]
impl LifecycleMutation {
    /// A compare-and-swap on the account's version.
    async fn update_account(&self, ctx: &Context<'_>, input: UpdateAccountInput) -> GqlResult<Account> {
        let update = AccountUpdate {
            id: input.id.0,
            expected_version: input.expected_version,
            min_balance: input.min_balance.map(|m| m.0),
            metadata: input.metadata.map(|j| j.0),
        };
        service::operations::account::update(ctx.data::<Ledger>()?, update)
            .await
            .map(Account)
            .gql()
    }

    /// Archived accounts stay readable and refuse all movement (ACCOUNT_ARCHIVED).
    async fn archive_account(&self, ctx: &Context<'_>, input: ArchiveAccountInput) -> GqlResult<AccountPayload> {
        let sweep = input.sweep_to_account_id.map(|i| i.0);
        let ledger = ctx.data::<Ledger>()?;
        service::operations::account::archive(ledger, input.id.0, sweep, input.idempotency_key)
            .await
            .map(Into::into)
            .gql()
    }

    /// Moves the source's whole balance to the target and archives the source, atomically.
    async fn merge_accounts(&self, ctx: &Context<'_>, input: MergeAccountsInput) -> GqlResult<AccountPayload> {
        let ledger = ctx.data::<Ledger>()?;
        let effect =
            service::operations::account::merge(ledger, input.source_id.0, input.target_id.0, input.idempotency_key)
                .await;
        effect.map(Into::into).gql()
    }

    async fn create_currency(&self, ctx: &Context<'_>, input: CreateCurrencyInput) -> GqlResult<Currency> {
        service::store::currency::create(ctx.data::<Ledger>()?, input.code, input.scale)
            .await
            .map(Into::into)
            .gql()
    }
}
