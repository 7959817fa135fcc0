//! Mutation payloads: each carries the accounts it touched as they stand
//! after the mutation, so no second request is needed to read balances.

use async_graphql::SimpleObject;
use service::Effect;
use service::entity::currency;

use super::{Account, Transfer};

#[derive(SimpleObject)]
pub struct Currency {
    pub code: String,
    /// Decimal places an amount may carry.
    pub scale: i32,
}

impl From<currency::Model> for Currency {
    fn from(c: currency::Model) -> Self {
        Currency {
            code: c.code,
            scale: c.scale,
        }
    }
}

/// One item's outcome in a non-atomic batch: its transfer, or its refusal.
#[derive(SimpleObject)]
pub struct PostTransfersResult {
    pub index: i32,
    pub ok: bool,
    pub transfer: Option<Transfer>,
    /// The refusal's error code (as `extensions.code` would carry it).
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(SimpleObject)]
pub struct PostTransfersPayload {
    /// One per input item, in input order.
    pub results: Vec<PostTransfersResult>,
    /// The transfers posted (or replayed), in input order.
    pub transfers: Vec<Transfer>,
    /// Every account touched, as it stands afterwards.
    pub accounts: Vec<Account>,
}

impl PostTransfersPayload {
    pub fn new(outcomes: Vec<Result<Effect, service::LedgerError>>) -> Self {
        let mut payload = PostTransfersPayload {
            results: Vec::new(),
            transfers: Vec::new(),
            accounts: Vec::new(),
        };
        let mut seen = std::collections::BTreeMap::new();
        for (index, outcome) in outcomes.into_iter().enumerate() {
            let index = index as i32;
            match outcome {
                Ok(effect) => {
                    let transfer = effect.transfers.into_iter().next();
                    payload.transfers.extend(transfer.clone().map(Transfer));
                    seen.extend(effect.accounts.into_iter().map(|a| (a.id, a)));
                    payload.results.push(PostTransfersResult {
                        index,
                        ok: true,
                        transfer: transfer.map(Transfer),
                        code: None,
                        message: None,
                    });
                }
                Err(e) => {
                    let (code, message) = crate::error::client_view(&e);
                    let code = Some(code.as_str().to_owned());
                    payload.results.push(PostTransfersResult {
                        index,
                        ok: false,
                        transfer: None,
                        code,
                        message: Some(message),
                    });
                }
            }
        }
        payload.accounts = seen.into_values().map(Account).collect();
        payload
    }
}

#[derive(SimpleObject)]
pub struct SplitTransferPayload {
    /// One transfer per part that received money, in part order.
    pub transfers: Vec<Transfer>,
    pub accounts: Vec<Account>,
}

impl From<Effect> for SplitTransferPayload {
    fn from(e: Effect) -> Self {
        SplitTransferPayload {
            transfers: e.transfers.into_iter().map(Transfer).collect(),
            accounts: e.accounts.into_iter().map(Account).collect(),
        }
    }
}

/// The result of archiving or merging: the archived account, the sweep
/// transfer when money moved, and every account touched.
#[derive(SimpleObject)]
pub struct AccountPayload {
    pub account: Option<Account>,
    pub transfer: Option<Transfer>,
    pub accounts: Vec<Account>,
}

impl From<Effect> for AccountPayload {
    fn from(e: Effect) -> Self {
        AccountPayload {
            account: e.account.map(Account),
            transfer: e.transfers.into_iter().next().map(Transfer),
            accounts: e.accounts.into_iter().map(Account).collect(),
        }
    }
}
