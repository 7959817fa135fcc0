//! End users (JWT callers) act only on their own accounts: those whose
//! `owner` is the token's `sub`. API keys and the open server are not
//! restricted here (their limits are scopes, in `policy`).

use async_graphql::Context;
use service::Ledger;
use service::entity::account;
use uuid::Uuid;

use super::{Principal, forbidden, principal};
use crate::error::{GqlResult, IntoGql};

/// Refuses an end user unless every account of `ids` is theirs (an account
/// that does not exist is refused the same way, revealing nothing).
pub async fn ensure_owns(ctx: &Context<'_>, ids: &[Uuid]) -> GqlResult<()> {
    let Principal::User { subject } = principal(ctx)? else {
        return Ok(());
    };
    let rows = service::store::account::by_ids(ctx.data::<Ledger>()?, ids)
        .await
        .gql()?;
    for id in ids {
        let mine = rows
            .iter()
            .any(|a| a.id == *id && a.owner.as_deref() == Some(subject.as_str()));
        if !mine {
            return Err(forbidden(format!("account {id} does not belong to {subject}")));
        }
    }
    Ok(())
}

/// Refuses an end user who owns neither of `accounts` (one query).
pub async fn ensure_owns_one(ctx: &Context<'_>, accounts: [Uuid; 2]) -> GqlResult<()> {
    let Principal::User { subject } = principal(ctx)? else {
        return Ok(());
    };
    let rows = service::store::account::by_ids(ctx.data::<Ledger>()?, &accounts)
        .await
        .gql()?;
    match rows.iter().any(|a| a.owner.as_deref() == Some(subject.as_str())) {
        true => Ok(()),
        false => Err(forbidden("neither account of this belongs to you")),
    }
}

/// Refuses an end user a private field (balance, history…) of an account
/// that is not theirs; id, code, currency and status stay visible, so a
/// transfer's other party can be named.
pub fn ensure_sees(ctx: &Context<'_>, account: &account::Model) -> GqlResult<()> {
    match principal(ctx)? {
        Principal::User { subject } if account.owner.as_deref() != Some(subject.as_str()) => Err(forbidden(format!(
            "account {} does not belong to {subject}",
            account.id
        ))),
        _ => Ok(()),
    }
}
