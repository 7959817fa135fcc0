//! Live updates over graphql-transport-ws (and the older graphql-ws), on the
//! same `/graphql` path. Each field checks its arguments and the accounts
//! before the first message, so a bad id is a coded error at subscribe time.

use async_graphql::{Context, Subscription};
use futures::StreamExt;
use futures::stream::BoxStream;
use service::Ledger;

use async_graphql::Result;

use crate::error::IntoGql;
use crate::scalars::Id;
use crate::types::{Account, Entry, entry_sequence};

#[derive(Default)]
pub struct Subscription;

#[Subscription(guard = "crate::auth::Policy::subscription()")]
impl Subscription {
    /// Every entry of the account as it commits, in sequence order, each
    /// exactly once. `after` is an entries cursor (`Entry.cursor`, or an edge
    /// cursor of `Account.entries`): entries after it are sent first, then
    /// live ones, with no gap and no duplicate. Without `after`, only entries
    /// committed after subscribing are sent. To resume after a dropped
    /// connection, subscribe again with the cursor of the last entry received.
    #[graphql(guard = "crate::auth::Policy::subscription().owning([account_id.0])")]
    async fn entry_posted(
        &self,
        ctx: &Context<'_>,
        account_id: Id,
        after: Option<String>,
    ) -> Result<BoxStream<'static, Entry>> {
        let after = after.as_deref().map(entry_sequence).transpose()?;
        let stream = service::store::subscriptions::entries_after(ctx.data::<Ledger>()?, account_id.0, after)
            .await
            .gql()?;
        Ok(stream.map(Entry).boxed())
    }

    /// Each account (balance, heldBalance, availableBalance, version…) after
    /// each committed change; nothing is sent at subscription. Changes that
    /// commit in quick succession may arrive as the latest of them (an
    /// account's `version` strictly increases from one message to the next).
    /// 1 to 100 accounts.
    #[graphql(guard = "crate::auth::Policy::subscription().owning(account_ids.iter().map(|a| a.0))")]
    async fn balance_changed(&self, ctx: &Context<'_>, account_ids: Vec<Id>) -> Result<BoxStream<'static, Account>> {
        let ids: Vec<uuid::Uuid> = account_ids.into_iter().map(|id| id.0).collect();
        let stream = service::store::subscriptions::account_changes(ctx.data::<Ledger>()?, &ids)
            .await
            .gql()?;
        Ok(stream.map(Account).boxed())
    }

    /// Each crossing of a balance alert's threshold by one of the accounts'
    /// available balance (see `createBalanceAlert`), from now on, each once,
    /// in each account's commit order. 1 to 100 accounts.
    #[graphql(guard = "crate::auth::Policy::subscription().owning(account_ids.iter().map(|a| a.0))")]
    async fn balance_alert(
        &self,
        ctx: &Context<'_>,
        account_ids: Vec<Id>,
    ) -> Result<BoxStream<'static, crate::webhooks::types::BalanceAlertEvent>> {
        let ids: Vec<uuid::Uuid> = account_ids.into_iter().map(|id| id.0).collect();
        let stream = service::store::subscriptions::alerts(ctx.data::<Ledger>()?, &ids)
            .await
            .gql()?;
        Ok(stream
            .filter_map(|e| async move { crate::webhooks::types::BalanceAlertEvent::parse(&e.payload) })
            .boxed())
    }
}
