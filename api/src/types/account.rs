use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, Json, Object};
use chrono::{DateTime, Utc};
use service::entity::account;
use service::model::page::Window;
use service::{ErrorCode, Ledger, LedgerError};

use super::{Entry, connection, decode_cursor};
use crate::auth::sees;
use crate::error::{GqlResult, IntoGql, gql};
use crate::scalars::{Id, Money};

pub struct Account(pub account::Model);

// The stored states, variant for variant (`remote`: a state added there
// fails to compile here).
/// ACTIVE accounts move money; ARCHIVED ones stay readable and move none.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "AccountStatus", remote = "service::entity::AccountStatus")]
pub enum AccountStatus {
    Active,
    Archived,
}

const DEFAULT_PAGE: u64 = 50;

/// Which time a question about the past goes by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum TimeBasis {
    /// When movements were committed: the order of the chains, sequences
    /// and the sealed journal.
    #[default]
    Commit,
    /// When movements took effect (`effectiveAt`; the commit time for all
    /// but imported history).
    Effective,
}

#[Object]
impl Account {
    async fn id(&self) -> Id {
        Id(self.0.id)
    }
    /// The client's unique reference for this account.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// The stored total, at the currency's scale.
    async fn balance(&self, ctx: &Context<'_>) -> GqlResult<Money> {
        sees(ctx, &self.0)?;
        Ok(Money(self.0.balance.0))
    }
    /// Σ of pending holds on this account.
    async fn held_balance(&self, ctx: &Context<'_>) -> GqlResult<Money> {
        sees(ctx, &self.0)?;
        Ok(Money(self.0.held_balance.0))
    }
    /// What can be spent or held: balance - heldBalance. Every funds check uses it.
    async fn available_balance(&self, ctx: &Context<'_>) -> GqlResult<Money> {
        sees(ctx, &self.0)?;
        Ok(Money(self.0.balance.0 - self.0.held_balance.0))
    }
    /// The floor the available balance may not go below; null = unbounded (system accounts).
    async fn min_balance(&self, ctx: &Context<'_>) -> GqlResult<Option<Money>> {
        sees(ctx, &self.0)?;
        Ok(self.0.min_balance.map(|m| Money(m.0)))
    }
    /// Bumped on every change of the account row.
    async fn version(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        sees(ctx, &self.0)?;
        Ok(self.0.version)
    }
    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }
    /// True for a currency's world account (code `world:<CUR>`).
    async fn is_system(&self) -> bool {
        self.0.is_system
    }
    async fn entry_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        sees(ctx, &self.0)?;
        Ok(self.0.entry_count)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn metadata(&self, ctx: &Context<'_>) -> GqlResult<Option<Json<serde_json::Value>>> {
        sees(ctx, &self.0)?;
        Ok(self.0.metadata.clone().map(Json))
    }
    /// The end user this account belongs to, if any.
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<&str>> {
        sees(ctx, &self.0)?;
        Ok(self.0.owner.as_deref())
    }

    /// The account's entries in sequence order (keyset pagination: any page
    /// costs what the first costs). `first`/`after` page forward, `last`/`before` backward.
    #[graphql(complexity = "crate::limits::page_cost(first.or(last), child_complexity)")]
    async fn entries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Entry>> {
        sees(ctx, &self.0)?;
        let window = window(first, after, last, before)?;
        let page = service::store::entry::page(ctx.data::<Ledger>()?, self.0.id, window)
            .await
            .gql()?;
        Ok(connection(page, "entry", |e| e.sequence.to_string(), Entry))
    }

    /// The balance at `at`. By commit time (the default): right after the
    /// last entry committed at or before `at` (one index lookup). By
    /// effective time: every movement that took effect at or before `at`,
    /// imported history included, however late it was committed. Both exact.
    async fn balance_at(
        &self,
        ctx: &Context<'_>,
        at: DateTime<Utc>,
        #[graphql(default)] basis: TimeBasis,
    ) -> GqlResult<Money> {
        sees(ctx, &self.0)?;
        let ledger = ctx.data::<Ledger>()?;
        let scale = self.0.balance.0.scale();
        match basis {
            TimeBasis::Commit => service::store::entry::balance_at(ledger, self.0.id, at, scale).await,
            TimeBasis::Effective => service::store::entry::balance_at_effective(ledger, self.0.id, at, scale).await,
        }
        .map(Money)
        .gql()
    }
}

fn window(first: Option<i32>, after: Option<String>, last: Option<i32>, before: Option<String>) -> GqlResult<Window> {
    let seq = |c: Option<String>| c.as_deref().map(entry_sequence).transpose();
    let backward = last.is_some() || before.is_some();
    if backward && (first.is_some() || after.is_some()) {
        return Err(gql(LedgerError::client(
            ErrorCode::InvalidInput,
            "use first/after or last/before, not both",
        )));
    }
    let size = |n: Option<i32>| service::model::page::size(n.map(i64::from), DEFAULT_PAGE).gql();
    Ok(if backward {
        Window::Backward {
            before: seq(before)?,
            last: size(last)?,
        }
    } else {
        Window::Forward {
            after: seq(after)?,
            first: size(first)?,
        }
    })
}

/// The sequence number an entries cursor points at.
pub fn entry_sequence(cursor: &str) -> GqlResult<i64> {
    decode_cursor("entry", cursor)?
        .parse::<i64>()
        .map_err(|_| gql(LedgerError::client(ErrorCode::InvalidInput, "malformed entry cursor")))
}
