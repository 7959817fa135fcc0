//! Currency exchange between accounts of two currencies.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use service::Ledger;
use service::model::request::Rounding;
use service::operations::transfer::ExchangeRequest;

use super::{Metadata, details};
use crate::error::{GqlResult, IntoGql};
use crate::scalars::{Id, Money};
use crate::types::{ExchangeDetails, Transfer};

/// How the exact converted amount is rounded to the target currency's scale.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
#[graphql(remote = "service::model::request::Rounding")]
pub enum RoundingRule {
    /// To the nearest minor unit, halves to the even one (banker's rounding).
    #[default]
    HalfEven,
    /// To the nearest minor unit, halves away from zero.
    HalfUp,
    /// Toward zero: never more than the exact amount.
    Down,
    /// Away from zero.
    Up,
}

#[derive(InputObject)]
pub struct ExchangeInput {
    pub from_account_id: Id,
    /// An account of another currency.
    pub to_account_id: Id,
    /// In the source account's currency.
    pub amount: Money,
    /// Target units per source unit; the target gets `amount × rate`,
    /// rounded by `rounding`. Give this or `quoteAmount`.
    pub rate: Option<Money>,
    /// The exact amount the target account receives (at its currency's scale).
    pub quote_amount: Option<Money>,
    #[graphql(default)]
    pub rounding: RoundingRule,
    pub idempotency_key: String,
    pub description: Option<String>,
    pub metadata: Metadata,
}

/// What an exchange did: its two legs and the conversion they record.
#[derive(SimpleObject)]
pub struct ExchangePayload {
    /// The source account → its currency's exchange account, then the
    /// target currency's exchange account → the target account.
    pub transfers: Vec<Transfer>,
    pub exchange: ExchangeDetails,
}

#[derive(Default)]
pub struct ExchangeMutation;

#[Object(guard = "crate::auth::Policy::mutation()")]
impl ExchangeMutation {
    /// Converts `amount` from the source account's currency into the target
    /// account's, atomically, through each currency's exchange account
    /// (`exchange:<CUR>`), so every currency still sums to zero. The rate,
    /// the rounding rule, the exact product and the remainder rounding left
    /// are recorded on both transfers.
    #[graphql(guard = "crate::auth::Policy::mutation().owning([input.from_account_id.0])")]
    async fn exchange(&self, ctx: &Context<'_>, input: ExchangeInput) -> GqlResult<ExchangePayload> {
        let request = ExchangeRequest {
            from_account_id: input.from_account_id.0,
            to_account_id: input.to_account_id.0,
            amount: input.amount.0,
            rate: input.rate.map(|r| r.0),
            quote_amount: input.quote_amount.map(|q| q.0),
            rounding: Rounding::from(input.rounding),
            details: details(input.idempotency_key, input.description, input.metadata, None),
        };
        let effect = service::operations::transfer::exchange(ctx.data::<Ledger>()?, request)
            .await
            .gql()?;
        let exchange = effect
            .transfers
            .first()
            .and_then(ExchangeDetails::of)
            .ok_or_else(|| crate::error::integrity("an exchange without its record".to_owned()))?;
        Ok(ExchangePayload {
            transfers: effect.transfers.into_iter().map(Transfer).collect(),
            exchange,
        })
    }
}
