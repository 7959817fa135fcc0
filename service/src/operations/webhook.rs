//! Webhook endpoints and balance alerts: checked input, stored, and this
//! instance's snapshot refreshed at once (other instances pick changes up
//! within their refresh interval).

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::event::EventKind;
use crate::model::money;
use crate::model::time::now_micros;
use crate::store::ledger::Ledger;
use crate::store::{account as accounts, currency, webhook as repo};
use entity::{AlertCondition, balance_alert, webhook_endpoint};

/// The most accounts one endpoint may name.
pub const MAX_ENDPOINT_ACCOUNTS: usize = 1000;

/// The most events one batched POST may carry.
pub const MAX_BATCH_SIZE: i32 = 1000;

/// An endpoint as asked for (`None` filters: everything).
#[derive(Clone, Debug, Default)]
pub struct EndpointSpec {
    pub url: String,
    pub event_types: Option<Vec<EventKind>>,
    pub account_ids: Option<Vec<Uuid>>,
    pub enabled: bool,
    /// Events per POST, 1–[`MAX_BATCH_SIZE`] (`None`: 1 on create,
    /// unchanged on update).
    pub max_batch_size: Option<i32>,
}

/// Creates an endpoint; without a `secret`, one is generated. The secret is
/// returned here and readable by admins later (signatures need it).
pub async fn create_endpoint(
    ledger: &Ledger,
    spec: EndpointSpec,
    secret: Option<String>,
) -> Result<webhook_endpoint::Model> {
    let secret = match secret {
        Some(s) => checked_secret(s)?,
        None => generated_secret()?,
    };
    let (event_types, account_ids) = checked(ledger, &spec).await?;
    let now = now_micros();
    let row = webhook_endpoint::Model {
        id: Uuid::now_v7(),
        url: spec.url,
        secret,
        event_types,
        account_ids,
        enabled: spec.enabled,
        max_batch_size: spec.max_batch_size.unwrap_or(1),
        created_at: now,
        updated_at: now,
    };
    let row = repo::insert_endpoint(ledger, row).await?;
    ledger.refresh_hooks().await?;
    Ok(row)
}

/// Replaces an endpoint's URL, filters and enabled flag (its secret stays).
pub async fn update_endpoint(ledger: &Ledger, id: Uuid, spec: EndpointSpec) -> Result<webhook_endpoint::Model> {
    let current = repo::endpoint(ledger, id).await?;
    let (event_types, account_ids) = checked(ledger, &spec).await?;
    let row = webhook_endpoint::Model {
        url: spec.url,
        event_types,
        account_ids,
        enabled: spec.enabled,
        max_batch_size: spec.max_batch_size.unwrap_or(current.max_batch_size),
        updated_at: now_micros(),
        ..current
    };
    let row = repo::update_endpoint(ledger, row).await?;
    ledger.refresh_hooks().await?;
    Ok(row)
}

pub async fn delete_endpoint(ledger: &Ledger, id: Uuid) -> Result<()> {
    repo::delete_endpoint(ledger, id).await?;
    ledger.refresh_hooks().await
}

/// An alert on one account (`account_id`) or on every account of a
/// currency; the threshold is at the currency's scale and may be negative.
pub async fn create_alert(
    ledger: &Ledger,
    account_id: Option<Uuid>,
    currency_code: Option<String>,
    condition: AlertCondition,
    threshold: Decimal,
) -> Result<balance_alert::Model> {
    let code = match (account_id, &currency_code) {
        (Some(id), None) => {
            let account = accounts::get(ledger, id).await?;
            account.currency
        }
        (None, Some(code)) => code.clone(),
        _ => {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                "a balance alert watches an accountId or a currency, exactly one of the two",
            ));
        }
    };
    let scale = currency::scale_of(ledger, ledger.connection(), &code).await?;
    let threshold = money::signed_at_scale(threshold, scale)?;
    let row = balance_alert::Model {
        id: Uuid::now_v7(),
        account_id,
        currency: currency_code,
        condition,
        threshold: threshold.into(),
        created_at: now_micros(),
    };
    let row = repo::insert_alert(ledger, row).await?;
    ledger.refresh_hooks().await?;
    Ok(row)
}

pub async fn delete_alert(ledger: &Ledger, id: Uuid) -> Result<()> {
    repo::delete_alert(ledger, id).await?;
    ledger.refresh_hooks().await
}

/// The URL, and the filters as stored (comma-separated, sorted).
async fn checked(ledger: &Ledger, spec: &EndpointSpec) -> Result<(Option<String>, Option<String>)> {
    check_url(&spec.url)?;
    if spec.max_batch_size.is_some_and(|n| !(1..=MAX_BATCH_SIZE).contains(&n)) {
        return Err(invalid(format!("maxBatchSize must be between 1 and {MAX_BATCH_SIZE}")));
    }
    let event_types = match &spec.event_types {
        Some(kinds) if kinds.is_empty() => return Err(invalid("eventTypes, when given, names at least one type")),
        Some(kinds) => {
            let names: BTreeSet<&str> = kinds.iter().map(|k| k.as_str()).collect();
            Some(names.into_iter().collect::<Vec<_>>().join(","))
        }
        None => None,
    };
    let account_ids = match &spec.account_ids {
        Some(ids) if ids.is_empty() => return Err(invalid("accountIds, when given, names at least one account")),
        Some(ids) if ids.len() > MAX_ENDPOINT_ACCOUNTS => {
            return Err(invalid(format!("at most {MAX_ENDPOINT_ACCOUNTS} accountIds")));
        }
        Some(ids) => {
            let ids: BTreeSet<Uuid> = ids.iter().copied().collect();
            let found = accounts::by_ids(ledger, &ids.iter().copied().collect::<Vec<_>>()).await?;
            if let Some(missing) = ids.iter().find(|id| !found.iter().any(|a| a.id == **id)) {
                return Err(accounts::not_found(&missing.to_string()));
            }
            Some(ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
        }
        None => None,
    };
    Ok((event_types, account_ids))
}

/// An absolute `http` or `https` URL with a host, at most 2,048 characters.
fn check_url(url: &str) -> Result<()> {
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "url must be at most 2048 characters, without spaces or control characters",
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("url must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid("url must name a host"));
    }
    Ok(())
}

fn checked_secret(secret: String) -> Result<String> {
    if !(16..=256).contains(&secret.len()) || secret.chars().any(char::is_control) {
        return Err(invalid(
            "secret must be 16 to 256 characters, without control characters",
        ));
    }
    Ok(secret)
}

/// `whsec_` and 32 random bytes in hex.
fn generated_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| LedgerError::Internal(format!("no randomness for a secret: {e}")))?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

fn invalid(message: impl Into<String>) -> LedgerError {
    LedgerError::client(ErrorCode::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "https://example.com",
            "https://u:p@example.com/x?y=1",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "example.com",
            "http://",
            "http:///x",
            "http://:80/",
            "http://a b",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://example.com/{}", "a".repeat(2048))).is_err());
    }
}
