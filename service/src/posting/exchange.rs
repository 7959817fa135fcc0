//! Currency exchange: one request, two transfers in one run. The source
//! account pays `amount` into its currency's exchange account, and the
//! target currency's exchange account pays the converted amount to the
//! target account, so every currency still sums to zero. The converted
//! amount is the quote given, or `amount × rate` rounded to the target
//! currency's scale by the stated rule; the exact product and what rounding
//! left over are recorded on both transfers (under `exchange` in their
//! metadata, which their hashes cover), never dropped.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::book::Book;
use super::movements::active;
use crate::model::error::{ErrorCode, LedgerError};
use crate::model::money;
use crate::model::request::{Effect, Outcome, Price, Request, Rounding};
use entity::TransferKind;

impl Book {
    pub(super) fn exchange(
        &mut self,
        req: &Request,
        (from, to): (Uuid, Uuid),
        amount: Decimal,
        price: Price,
        rounding: Rounding,
        pools: Option<(Uuid, Uuid)>,
    ) -> Outcome {
        let a = self.account(Some(from))?;
        let b = self.account(Some(to))?;
        let (pool_a, pool_b) = pools.ok_or_else(|| LedgerError::Internal("exchange accounts not planned".into()))?;
        active(&a)?;
        active(&b)?;
        if a.currency == b.currency {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                format!(
                    "both accounts hold {}: an exchange is between two currencies (use transfer)",
                    a.currency
                ),
            ));
        }
        let amount = money::amount_at_scale(amount, self.scale(&a.currency)?)?;
        let scale_b = self.scale(&b.currency)?;
        let (quote, exact) = match price {
            Price::Rate(rate) => {
                let exact = amount.checked_mul(rate).ok_or_else(|| {
                    LedgerError::client(ErrorCode::InvalidAmount, "amount × rate is beyond the exact range")
                })?;
                (rounding.apply(exact, scale_b), exact)
            }
            Price::Quote(quote) => (money::amount_at_scale(quote, scale_b)?, quote),
        };
        if quote <= Decimal::ZERO {
            return Err(LedgerError::client(
                ErrorCode::InvalidAmount,
                format!("{amount} {} converts to nothing at {}'s scale", a.currency, b.currency),
            ));
        }
        let record = record(req, &a.currency, &b.currency, amount, quote, exact, price, rounding);
        let pay_in = super::movements::Move {
            metadata: Some(record.clone()),
            ..self.plain(TransferKind::Exchange, Some(from), Some(pool_a), amount, req)
        };
        let first = self.move_money(pay_in)?;
        let pay_out = super::movements::Move {
            metadata: Some(record),
            ..self.plain(TransferKind::Exchange, Some(pool_b), Some(to), quote, req)
        };
        let second = self.move_money(pay_out)?;
        Ok(Effect {
            transfers: vec![first, second],
            ..Effect::default()
        })
    }
}

/// What both legs record: the rate (or the quote and the rate it implies),
/// the rule, the exact product and the remainder rounding left.
#[allow(clippy::too_many_arguments)] // one per recorded field
fn record(
    req: &Request,
    source: &str,
    target: &str,
    amount: Decimal,
    quote: Decimal,
    exact: Decimal,
    price: Price,
    rounding: Rounding,
) -> Value {
    let (rate, basis) = match price {
        Price::Rate(rate) => (rate, "rate"),
        Price::Quote(_) => (exact.checked_div(amount).unwrap_or_default().normalize(), "quote"),
    };
    json!({
        "exchange": {
            "sourceCurrency": source,
            "sourceAmount": amount.to_string(),
            "targetCurrency": target,
            "targetAmount": quote.to_string(),
            "rate": rate.to_string(),
            "priced": basis,
            "rounding": rounding.as_str(),
            "exactTarget": exact.normalize().to_string(),
            "remainder": (exact - quote).normalize().to_string(),
        },
        "metadata": req.metadata.clone(),
    })
}
