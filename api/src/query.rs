//! Read-only entry points. Missing objects are `null`, not errors.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use service::entity::TransferKind;
use service::seal::digest::Signer;
use service::store::transfer_list::TransferFilter;
use service::{ErrorCode, Ledger, LedgerError};

use crate::error::{GqlResult, IntoGql, gql};
use crate::scalars::Id;
use crate::types::{
    Account, AccountFilterInput, BalanceTotal, ConsistencyProof, Currency, Hold, InclusionProof, LedgerDigest,
    LedgerVerification, Transfer, TransferKindGql, connection, decode_cursor,
};

/// The root query: the ledger's reads and the webhook admin's.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CoreQuery, crate::webhooks::WebhookQuery);

#[derive(Default)]
pub struct CoreQuery;

const DEFAULT_PAGE: u64 = 50;

/// Whole-ledger audits running on this instance (at most one).
pub struct Audits(pub tokio::sync::Semaphore);

#[Object(guard = "crate::auth::Policy::query()")]
impl CoreQuery {
    async fn account(&self, ctx: &Context<'_>, id: Id) -> GqlResult<Option<Account>> {
        let found = found(service::store::account::get(ctx.data::<Ledger>()?, id.0).await)?;
        visible_account(ctx, found)
    }

    async fn account_by_code(&self, ctx: &Context<'_>, code: String) -> GqlResult<Option<Account>> {
        let found = found(service::store::account::by_code(ctx.data::<Ledger>()?, &code).await)?;
        visible_account(ctx, found)
    }

    /// Accounts (world accounts included) in creation order, all or those
    /// `filter` covers. Each page is read in one snapshot, so its balances
    /// sum consistently under writes.
    #[graphql(complexity = "crate::limits::page_cost(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AccountFilterInput>,
    ) -> GqlResult<Connection<String, Account>> {
        let after = after.map(|c| id_cursor("account", &c)).transpose()?;
        let first = service::model::page::size(first.map(i64::from), DEFAULT_PAGE).gql()?;
        let ledger = ctx.data::<Ledger>()?;
        let page = match filter {
            Some(f) => service::store::account_query::page(ledger, &f.into(), after, first).await,
            None => service::store::account::page(ledger, after, first).await,
        }
        .gql()?;
        Ok(connection(page, "account", |a| a.id.to_string(), Account))
    }

    /// Exact totals per currency of the accounts `filter` covers (all
    /// accounts without one), read in one snapshot. World accounts count
    /// like any other, so over a whole currency the balance is zero.
    async fn balance_totals(
        &self,
        ctx: &Context<'_>,
        filter: Option<AccountFilterInput>,
    ) -> GqlResult<Vec<BalanceTotal>> {
        let filter = filter.map(Into::into).unwrap_or_default();
        let totals = service::store::account_query::totals(ctx.data::<Ledger>()?, &filter)
            .await
            .gql()?;
        Ok(totals.into_iter().map(Into::into).collect())
    }

    async fn transfer(&self, ctx: &Context<'_>, id: Id) -> GqlResult<Option<Transfer>> {
        let found = found(service::store::transfer::get(ctx.data::<Ledger>()?, id.0).await)?;
        visible_transfer(ctx, found).await
    }

    async fn transfer_by_idempotency_key(&self, ctx: &Context<'_>, key: String) -> GqlResult<Option<Transfer>> {
        let ledger = ctx.data::<Ledger>()?;
        let found = found(service::store::transfer::by_idempotency_key(ledger, &key).await)?;
        visible_transfer(ctx, found).await
    }

    #[allow(clippy::too_many_arguments)] // one per GraphQL argument
    /// Transfers in creation order, optionally only those touching `accountId`,
    /// of one `kind`, created in [`from`, `to`).
    #[graphql(
        complexity = "crate::limits::page_cost(first, child_complexity)",
        guard = "crate::auth::Policy::query().owning(account_id.map(|a| a.0))"
    )]
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        account_id: Option<Id>,
        kind: Option<TransferKindGql>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Transfer>> {
        let after = after.map(|c| id_cursor("transfer", &c)).transpose()?;
        let first = service::model::page::size(first.map(i64::from), DEFAULT_PAGE).gql()?;
        let filter = TransferFilter {
            account_id: account_id.map(|i| i.0),
            kind: kind.map(TransferKind::from),
            from,
            to,
        };
        let page = service::store::transfer_list::page(ctx.data::<Ledger>()?, filter, after, first)
            .await
            .gql()?;
        Ok(connection(page, "transfer", |t| t.id.to_string(), Transfer))
    }

    async fn hold(&self, ctx: &Context<'_>, id: Id) -> GqlResult<Option<Hold>> {
        match service::store::hold::get(ctx.data::<Ledger>()?, id.0).await {
            Ok(h) => {
                crate::auth::touches(ctx, [h.debit_account_id, h.credit_account_id]).await?;
                Ok(Some(Hold(h)))
            }
            Err(e) if e.code() == ErrorCode::HoldNotFound => Ok(None),
            Err(e) => Err(gql(e)),
        }
    }

    /// Every currency and custom asset with its scale.
    async fn currencies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Currency>> {
        let rows = service::store::currency::list(ctx.data::<Ledger>()?).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The latest sealed state of the journal, signed with this instance's key.
    async fn ledger_digest(&self, ctx: &Context<'_>) -> GqlResult<LedgerDigest> {
        let signer = ctx.data::<Signer>()?;
        service::seal::digest::current(ctx.data::<Ledger>()?, signer)
            .await
            .map(Into::into)
            .gql()
    }

    /// Proves that the transfer is leaf `leafIndex` of the tree of `treeSize` leaves.
    async fn inclusion_proof(&self, ctx: &Context<'_>, transfer_id: Id, tree_size: i64) -> GqlResult<InclusionProof> {
        let ledger = ctx.data::<Ledger>()?;
        service::seal::proofs::inclusion(ledger, transfer_id.0, tree_size)
            .await
            .map(Into::into)
            .gql()
    }

    /// Proves that the tree of `fromSize` leaves is a prefix of the tree of `toSize`.
    async fn consistency_proof(&self, ctx: &Context<'_>, from_size: i64, to_size: i64) -> GqlResult<ConsistencyProof> {
        let ledger = ctx.data::<Ledger>()?;
        service::seal::proofs::consistency(ledger, from_size, to_size)
            .await
            .map(Into::into)
            .gql()
    }

    /// Recomputes every hash chain, running balance and sum (see README).
    /// Admin only. One audit at a time per instance: each reads the whole ledger
    /// on several connections; a second is answered UNAVAILABLE at once.
    async fn verify_ledger(&self, ctx: &Context<'_>) -> GqlResult<LedgerVerification> {
        let Ok(_audit) = ctx.data::<Audits>()?.0.try_acquire() else {
            return Err(gql(LedgerError::client(
                ErrorCode::Unavailable,
                "an audit is already running on this instance; retry later",
            )));
        };
        let v = service::verify::verify(ctx.data::<Ledger>()?).await.gql()?;
        Ok(v.into())
    }
}

/// Not-found refusals become `null`; anything else stays an error.
/// An end user sees only their own accounts.
fn visible_account(ctx: &Context<'_>, account: Option<service::entity::account::Model>) -> GqlResult<Option<Account>> {
    if let Some(a) = &account {
        crate::auth::sees(ctx, a)?;
    }
    Ok(account.map(Account))
}

/// An end user sees only transfers that touch one of their accounts.
async fn visible_transfer(
    ctx: &Context<'_>,
    transfer: Option<service::entity::transfer::Model>,
) -> GqlResult<Option<Transfer>> {
    if let Some(t) = &transfer {
        crate::auth::touches(ctx, [t.debit_account_id, t.credit_account_id]).await?;
    }
    Ok(transfer.map(Transfer))
}

fn found<T>(result: Result<T, LedgerError>) -> GqlResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.code(), ErrorCode::AccountNotFound | ErrorCode::TransferNotFound) => Ok(None),
        Err(e) => Err(gql(e)),
    }
}

fn id_cursor(kind: &str, cursor: &str) -> GqlResult<uuid::Uuid> {
    uuid::Uuid::parse_str(&decode_cursor(kind, cursor)?).map_err(|_| {
        gql(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("malformed {kind} cursor"),
        ))
    })
}
