//! The webhook and balance-alert fields of Query and Mutation (admin only):
//! one service call each.

use async_graphql::{Context, ID, Object};
use service::Ledger;
use service::operations::webhook::{self as ops, EndpointSpec};
use service::store::webhook as repo;
use service::{ErrorCode, LedgerError};

use super::types::{
    BalanceAlert, CreateBalanceAlertInput, CreateWebhookEndpointInput, UpdateWebhookEndpointInput, WebhookDelivery,
    WebhookDeliveryStatus, WebhookEndpoint, WebhookEventType,
};
use crate::error::{GqlResult, IntoGql, gql};
use crate::scalars::Id;

/// The most deliveries one page returns.
const MAX_PAGE: u64 = 1000;

#[derive(Default)]
pub struct WebhookQuery;

#[Object(guard = "crate::auth::Policy::query()")]
impl WebhookQuery {
    /// Every webhook endpoint, enabled or not.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookEndpoint>> {
        let rows = repo::endpoints(ctx.data::<Ledger>()?).await.gql()?;
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }

    /// Deliveries, oldest first, optionally of one endpoint or in one status;
    /// `after` is a delivery's `id`. Page size 0–1000 (default 50).
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: Option<Id>,
        status: Option<WebhookDeliveryStatus>,
        #[graphql(default = 50)] first: i32,
        after: Option<ID>,
    ) -> GqlResult<Vec<WebhookDelivery>> {
        let first = u64::try_from(first)
            .ok()
            .filter(|n| *n <= MAX_PAGE)
            .ok_or_else(|| invalid("first must be between 0 and 1000"))?;
        let after = after.map(|a| parse_delivery_id(&a)).transpose()?;
        let rows = repo::deliveries(
            ctx.data::<Ledger>()?,
            endpoint_id.map(|e| e.0),
            status.map(Into::into),
            after,
            first,
        )
        .await
        .gql()?;
        Ok(rows.into_iter().map(WebhookDelivery).collect())
    }

    /// Every balance alert rule.
    async fn balance_alerts(&self, ctx: &Context<'_>) -> GqlResult<Vec<BalanceAlert>> {
        let rows = repo::alerts(ctx.data::<Ledger>()?).await.gql()?;
        Ok(rows.into_iter().map(|row| BalanceAlert { row }).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object(guard = "crate::auth::Policy::mutation()")]
impl WebhookMutation {
    /// Registers an endpoint: from now on every matching event committed is
    /// POSTed to it, signed, at least once, in order per account (other
    /// instances start within a second).
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let spec = spec(
            input.url,
            input.event_types,
            input.account_ids,
            input.enabled,
            input.max_batch_size,
        );
        let row = ops::create_endpoint(ctx.data::<Ledger>()?, spec, input.secret)
            .await
            .gql()?;
        Ok(WebhookEndpoint(row))
    }

    /// Replaces an endpoint's URL, filters and enabled flag (and its batch
    /// size, when given).
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let spec = spec(
            input.url,
            input.event_types,
            input.account_ids,
            input.enabled,
            input.max_batch_size,
        );
        let row = ops::update_endpoint(ctx.data::<Ledger>()?, input.id.0, spec)
            .await
            .gql()?;
        Ok(WebhookEndpoint(row))
    }

    /// Deletes an endpoint; its undelivered deliveries end DEAD.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: Id) -> GqlResult<bool> {
        ops::delete_endpoint(ctx.data::<Ledger>()?, id.0).await.gql()?;
        Ok(true)
    }

    /// Sends a delivery again now (a DEAD one included): attempts start
    /// over. The receiver sees the same event id.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> GqlResult<WebhookDelivery> {
        let seq = parse_delivery_id(&delivery_id)?;
        let row = repo::redeliver(ctx.data::<Ledger>()?, seq).await.gql()?;
        Ok(WebhookDelivery(row))
    }

    /// Watches an account's (or every account of a currency's) available
    /// balance: one `balance.alert` event each time it crosses the threshold.
    async fn create_balance_alert(&self, ctx: &Context<'_>, input: CreateBalanceAlertInput) -> GqlResult<BalanceAlert> {
        let row = ops::create_alert(
            ctx.data::<Ledger>()?,
            input.account_id.map(|id| id.0),
            input.currency,
            input.condition.into(),
            input.threshold.0,
        )
        .await
        .gql()?;
        Ok(BalanceAlert { row })
    }

    async fn delete_balance_alert(&self, ctx: &Context<'_>, id: Id) -> GqlResult<bool> {
        ops::delete_alert(ctx.data::<Ledger>()?, id.0).await.gql()?;
        Ok(true)
    }
}

/// What create and update share: the endpoint's URL, filters and flag.
fn spec(
    url: String,
    event_types: Option<Vec<WebhookEventType>>,
    account_ids: Option<Vec<Id>>,
    enabled: bool,
    max_batch_size: Option<i32>,
) -> EndpointSpec {
    EndpointSpec {
        url,
        event_types: event_types.map(|t| t.into_iter().map(Into::into).collect()),
        account_ids: account_ids.map(|ids| ids.into_iter().map(|id| id.0).collect()),
        enabled,
        max_batch_size,
    }
}

fn parse_delivery_id(id: &ID) -> GqlResult<i64> {
    id.parse::<i64>().map_err(|_| invalid("not a delivery id"))
}

fn invalid(message: &str) -> async_graphql::Error {
    gql(LedgerError::client(ErrorCode::InvalidInput, message))
}
