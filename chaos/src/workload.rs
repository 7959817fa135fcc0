//! The clients: each sends transfers between a few hot accounts to a random
//! instance, and now and then reads the whole ledger. A transfer whose
//! outcome it did not learn (connection error, timeout, 5xx, UNAVAILABLE,
//! INTERNAL) is retried under the same idempotency key, on any instance,
//! until it resolves as done or refused; the client stops only between
//! transfers, so no key is left unresolved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// What the clients share.
pub struct Shared {
    pub http: reqwest::Client,
    pub bases: Vec<String>,
    pub key: String,
    pub accounts: Vec<Uuid>,
    pub stop: AtomicBool,
    pub started: Instant,
    /// `started` on the wall clock (the cluster's helpers report wall time).
    pub started_wall: std::time::SystemTime,
}

/// A transfer the server acknowledged.
#[derive(Clone, Debug)]
pub struct Ack {
    pub key: String,
    pub from: Uuid,
    pub to: Uuid,
    pub amount: Decimal,
    /// When it was acknowledged, since the run started.
    pub at: Duration,
}

/// One client's record of the run.
#[derive(Default, Debug)]
pub struct Log {
    pub requests: u64,
    pub acknowledged: Vec<Ack>,
    pub refused: u64,
    /// Transfers whose outcome was unknown at first, then resolved by retry.
    pub unknown_then_resolved: u64,
    /// Longest time from a first unknown outcome to the resolution.
    pub longest_unknown: Duration,
    pub internal_answers: u64,
    pub reads_checked: u64,
    pub reads_failed: u64,
    pub problems: Vec<String>,
}

/// Gives up on a key after this long (a bug: retries must settle).
const RESOLVE_LIMIT: Duration = Duration::from_secs(120);

pub const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id } }";
pub const READ: &str = "{ accounts(first: 100) { edges { node { balance } } } }";

pub async fn post(shared: &Shared, base: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
    let res = shared
        .http
        .post(format!("{base}/graphql"))
        .bearer_auth(&shared.key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?;
    Ok(res.json().await?)
}

pub async fn client(shared: Arc<Shared>, id: usize) -> Log {
    let mut log = Log::default();
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        if fastrand::u8(0..100) < 15 {
            read(&shared, &mut log).await;
        } else {
            transfer(&shared, &mut log, format!("chaos-{id}-{seq}")).await;
            seq += 1;
        }
    }
    log
}

fn pick(shared: &Shared) -> &str {
    &shared.bases[fastrand::usize(0..shared.bases.len())]
}

async fn transfer(shared: &Shared, log: &mut Log, key: String) {
    let n = shared.accounts.len();
    let from = fastrand::usize(0..n);
    let to = (from + 1 + fastrand::usize(0..n - 1)) % n;
    let amount = Decimal::new(fastrand::i64(1..=500), 2);
    let (from, to) = (shared.accounts[from], shared.accounts[to]);
    let vars = json!({ "i": { "fromAccountId": from, "toAccountId": to, "amount": amount.to_string(), "idempotencyKey": key } });
    let mut unknown_since: Option<Instant> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        log.requests += 1;
        let answer = post(shared, pick(shared), TRANSFER, vars.clone()).await;
        let code = answer
            .as_ref()
            .ok()
            .and_then(|b| b["errors"][0]["extensions"]["code"].as_str().map(str::to_owned));
        match (&answer, code.as_deref()) {
            (Ok(body), None) if body["data"]["transfer"]["id"].is_string() => {
                log.acknowledged.push(Ack {
                    key,
                    from,
                    to,
                    amount,
                    at: shared.started.elapsed(),
                });
                break;
            }
            (Ok(_), Some("INSUFFICIENT_FUNDS")) => {
                log.refused += 1;
                break;
            }
            (Ok(_), Some("UNAVAILABLE" | "INTERNAL")) | (Err(_), _) => {
                if code.as_deref() == Some("INTERNAL") {
                    log.internal_answers += 1;
                }
                let since = *unknown_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RESOLVE_LIMIT {
                    log.problems
                        .push(format!("{key}: still unresolved after {RESOLVE_LIMIT:?}: {answer:?}"));
                    return;
                }
                tokio::time::sleep(backoff + Duration::from_millis(fastrand::u64(0..50))).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            (Ok(body), _) => {
                log.problems.push(format!("{key}: unexpected answer {body}"));
                return;
            }
        }
    }
    if let Some(since) = unknown_since {
        log.unknown_then_resolved += 1;
        log.longest_unknown = log.longest_unknown.max(since.elapsed());
    }
}

/// One page of every account in one statement (one snapshot): its balances
/// must sum to exactly zero, whatever the writers are doing.
async fn read(shared: &Shared, log: &mut Log) {
    let Ok(body) = post(shared, pick(shared), READ, json!({})).await else {
        log.reads_failed += 1;
        return;
    };
    let Some(edges) = body["data"]["accounts"]["edges"].as_array() else {
        log.reads_failed += 1;
        return;
    };
    let sum: Option<Decimal> = edges
        .iter()
        .map(|e| e["node"]["balance"].as_str().and_then(|b| b.parse::<Decimal>().ok()))
        .sum();
    match sum {
        Some(s) if s.is_zero() => log.reads_checked += 1,
        other => log
            .problems
            .push(format!("a read's balances summed to {other:?}: {body}")),
    }
}
