//! Read-only entry points. Missing objects are `null`, not errors.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object};
use service::{ErrorCode, Ledger, LedgerError};

use crate::error::{GqlResult, IntoGql, gql};
use crate::scalars::Id;
use crate::types::{Account, LedgerVerification, Transfer, decode_cursor, encode_cursor};

pub struct Query;

const DEFAULT_PAGE: u64 = 50;

#[Object]
impl Query {
    async fn account(&self, ctx: &Context<'_>, id: Id) -> GqlResult<Option<Account>> {
        found(service::account::get(ctx.data::<Ledger>()?, id.0).await).map(|a| a.map(Account))
    }

    async fn account_by_code(&self, ctx: &Context<'_>, code: String) -> GqlResult<Option<Account>> {
        found(service::account::by_code(ctx.data::<Ledger>()?, &code).await).map(|a| a.map(Account))
    }

    /// All accounts (world accounts included) in creation order. Each page is
    /// read in one snapshot, so its balances sum consistently under writes.
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Account>> {
        let after = after.map(|c| account_cursor(&c)).transpose()?;
        let first = service::page::size(first.map(i64::from), DEFAULT_PAGE).gql()?;
        let page = service::account::page(ctx.data::<Ledger>()?, after, first)
            .await
            .gql()?;
        let mut conn = Connection::new(page.has_previous, page.has_next);
        conn.edges.extend(
            page.items
                .into_iter()
                .map(|a| Edge::new(encode_cursor("account", &a.id.to_string()), Account(a))),
        );
        Ok(conn)
    }

    async fn transfer(&self, ctx: &Context<'_>, id: Id) -> GqlResult<Option<Transfer>> {
        found(service::transfer::get(ctx.data::<Ledger>()?, id.0).await).map(|t| t.map(Transfer))
    }

    async fn transfer_by_idempotency_key(
        &self,
        ctx: &Context<'_>,
        key: String,
    ) -> GqlResult<Option<Transfer>> {
        let ledger = ctx.data::<Ledger>()?;
        found(service::transfer::by_idempotency_key(ledger, &key).await).map(|t| t.map(Transfer))
    }

    /// Recomputes every hash chain, running balance and sum (see README).
    async fn verify_ledger(&self, ctx: &Context<'_>) -> GqlResult<LedgerVerification> {
        let v = service::verify::verify(ctx.data::<Ledger>()?).await.gql()?;
        Ok(v.into())
    }
}

/// Not-found refusals become `null`; anything else stays an error.
fn found<T>(result: Result<T, LedgerError>) -> GqlResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::AccountNotFound | ErrorCode::TransferNotFound
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(gql(e)),
    }
}

fn account_cursor(cursor: &str) -> GqlResult<uuid::Uuid> {
    uuid::Uuid::parse_str(&decode_cursor("account", cursor)?).map_err(|_| {
        gql(LedgerError::client(
            ErrorCode::InvalidInput,
            "malformed account cursor",
        ))
    })
}
