//! After the run: the ledger must hold exactly the acknowledged transfers,
//! balances must be the start plus exactly those movements, no client
//! account may be negative, the sealer must have caught up, and both the
//! server's `verifyLedger` and `tally verify` must pass.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::ceiling::psql_value;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::workload::Ack;

/// Every `chaos-` transfer in the database equals an acknowledged one, and
/// the other way round (a key retried until it resolved is one of the two:
/// acknowledged, or refused and absent).
pub fn transfers_match(url: &str, acks: &[Ack]) -> Result<usize> {
    let rows = psql_value(
        url,
        "SELECT idempotency_key || '|' || debit_account_id || '|' || credit_account_id || '|' || amount \
         FROM transfer WHERE idempotency_key LIKE 'chaos-%'",
    )?;
    let mut stored: HashMap<String, (Uuid, Uuid, Decimal)> = HashMap::new();
    for line in rows.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        let [key, debit, credit, amount] = f.as_slice() else {
            bail!("unreadable row {line:?}");
        };
        let row = (
            Uuid::parse_str(debit)?,
            Uuid::parse_str(credit)?,
            amount.parse::<Decimal>()?,
        );
        if stored.insert((*key).to_owned(), row).is_some() {
            bail!("key {key} has two transfers");
        }
    }
    for a in acks {
        match stored.remove(&a.key) {
            Some((d, c, amount)) if (d, c, amount) == (a.from, a.to, a.amount) => {}
            Some(other) => bail!("acknowledged {} differs in the ledger: {other:?} vs {a:?}", a.key),
            None => bail!("acknowledged transfer {} is not in the ledger", a.key),
        }
    }
    if let Some((key, _)) = stored.iter().next() {
        bail!(
            "{} transfers in the ledger were never acknowledged (first: {key})",
            stored.len()
        );
    }
    Ok(acks.len())
}

pub fn balances(url: &str, accounts: &[Uuid]) -> Result<BTreeMap<Uuid, Decimal>> {
    let ids: Vec<String> = accounts.iter().map(|a| format!("'{a}'")).collect();
    let rows = psql_value(
        url,
        &format!(
            "SELECT id || '|' || balance FROM account WHERE id IN ({})",
            ids.join(",")
        ),
    )?;
    rows.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, balance) = l.split_once('|').context("unreadable balance row")?;
            Ok((Uuid::parse_str(id)?, balance.parse::<Decimal>()?))
        })
        .collect()
}

/// Balances = start ± every acknowledged movement, and none negative.
pub fn balances_add_up(url: &str, start: &BTreeMap<Uuid, Decimal>, acks: &[Ack]) -> Result<()> {
    let mut expected = start.clone();
    for a in acks {
        *expected.entry(a.from).or_default() -= a.amount;
        *expected.entry(a.to).or_default() += a.amount;
    }
    let ids: Vec<Uuid> = start.keys().copied().collect();
    let actual = balances(url, &ids)?;
    for (id, want) in &expected {
        let got = actual.get(id).copied().unwrap_or_default();
        if got != *want {
            bail!("account {id}: balance {got}, start ± acknowledged movements {want}");
        }
        if got.is_sign_negative() && !got.is_zero() {
            bail!("account {id} is negative: {got}");
        }
    }
    Ok(())
}

/// Waits until the sealer's queue is empty; returns how long that took.
pub async fn sealer_caught_up(url: &str, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    while psql_value(url, "SELECT count(*) FROM unsealed")? != "0" {
        if started.elapsed() > limit {
            bail!("the sealer still had a queue after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(started.elapsed())
}

/// `tally verify` on the database: its summary line, or the failure.
pub fn tally_verify(binary: &Path, url: &str) -> Result<String> {
    let out = std::process::Command::new(binary)
        .args(["verify", "--database-url", url])
        .env("RUST_LOG", "warn")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("tally verify failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(text
        .lines()
        .find(|l| l.starts_with("checked"))
        .unwrap_or("ok")
        .to_owned())
}
