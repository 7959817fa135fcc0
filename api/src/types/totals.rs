//! Account filters and balance totals.

use async_graphql::{InputObject, Json, SimpleObject};
use service::store::account_query::{AccountFilter, Total};

use super::account::AccountStatus;
use crate::scalars::Money;

/// Which accounts a listing or a total covers; every condition given must
/// hold.
#[derive(InputObject, Default)]
pub struct AccountFilterInput {
    /// Accounts of this currency.
    pub currency: Option<String>,
    pub status: Option<AccountStatus>,
    /// Accounts whose code starts with this (case-sensitive, 1–255 characters).
    pub code_prefix: Option<String>,
    /// Accounts whose metadata contains this object: every key, at any
    /// depth, with an equal value (`{ "tier": "gold" }` matches
    /// `{ "tier": "gold", "region": "eu" }`). Objects and scalars only.
    pub metadata: Option<Json<serde_json::Value>>,
}

impl From<AccountFilterInput> for AccountFilter {
    fn from(f: AccountFilterInput) -> Self {
        AccountFilter {
            currency: f.currency,
            status: f.status.map(Into::into),
            code_prefix: f.code_prefix,
            metadata: f.metadata.map(|j| j.0),
        }
    }
}

/// One currency's accounts under a filter, summed exactly.
#[derive(SimpleObject)]
pub struct BalanceTotal {
    pub currency: String,
    /// How many accounts the filter covers in this currency.
    pub accounts: u64,
    /// Σ balance.
    pub balance: Money,
    /// Σ heldBalance.
    pub held_balance: Money,
    /// Σ availableBalance (= balance − heldBalance).
    pub available_balance: Money,
}

impl From<Total> for BalanceTotal {
    fn from(t: Total) -> Self {
        BalanceTotal {
            currency: t.currency,
            accounts: t.accounts,
            balance: Money(t.balance),
            held_balance: Money(t.held),
            available_balance: Money(t.balance - t.held),
        }
    }
}
