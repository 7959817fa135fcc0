//! The scenarios: prepared accounts, then one request shape each.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::gql::{self, Tally};
use crate::load::{self, Outcome, Stats};

/// Accounts prepared for a run: a well-funded "bank" and many funded accounts.
#[derive(Clone)]
pub struct Accounts {
    pub bank: Uuid,
    pub ids: Arc<Vec<Uuid>>,
}

impl Accounts {
    fn pick(&self, avoid: Option<Uuid>) -> Uuid {
        loop {
            let id = self.ids[fastrand::usize(..self.ids.len())];
            if Some(id) != avoid {
                return id;
            }
        }
    }

    fn pair(&self) -> (Uuid, Uuid) {
        let from = self.pick(None);
        (from, self.pick(Some(from)))
    }
}

/// Creates `n` funded USD accounts (and the bank) under `prefix`.
pub async fn prepare(tally: &Tally, n: usize, prefix: &str) -> Result<Accounts> {
    let bank = tally.open(&format!("{prefix}-bank"), "USD").await?;
    tally
        .data(gql::DEPOSIT, json!({ "i": { "accountId": bank, "amount": "100000000000000.00", "idempotencyKey": format!("{prefix}-fund") } }))
        .await?;
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let opened = futures_join(chunk.iter().map(|i| {
            let tally = tally.clone();
            let code = format!("{prefix}-{i}");
            async move { tally.open(&code, "USD").await }
        }))
        .await;
        for id in opened {
            ids.push(id?);
        }
    }
    for (b, chunk) in ids.chunks(1000).enumerate() {
        let items: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| gql::transfer_input(bank, *id, "1000000.00", &format!("{prefix}-seed-{b}-{i}")))
            .collect();
        tally.data(gql::BATCH, json!({ "i": { "transfers": items } })).await?;
    }
    Ok(Accounts {
        bank,
        ids: Arc::new(ids),
    })
}

async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Random pairs among all accounts.
    Uncontended,
    /// Every transfer debits the bank.
    Hot,
    /// Deposits: every one debits the currency's world account.
    Deposits,
    /// postTransfers of 100 random transfers.
    Batch100,
    /// First page of the bank's entries.
    EntriesFirstPage,
    /// Page 1,000 (entries 9,991–10,000) of the bank's entries.
    EntriesPage1000,
    /// balanceAt on the bank.
    BalanceAt,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Uncontended => "uncontended transfers",
            Self::Hot => "hot account",
            Self::Deposits => "deposits (world account)",
            Self::Batch100 => "postTransfers x100",
            Self::EntriesFirstPage => "entries page 1",
            Self::EntriesPage1000 => "entries page 1000",
            Self::BalanceAt => "balanceAt",
        }
    }
}

pub struct Run {
    pub warmup: Duration,
    pub duration: Duration,
}

/// Runs `scenario` with `clients` clients; keys are unique per `run_id`.
pub async fn run(
    tally: &Tally,
    accounts: &Accounts,
    scenario: Scenario,
    clients: usize,
    r: &Run,
    run_id: &str,
) -> Stats {
    let (tally, accounts, run_id) = (tally.clone(), accounts.clone(), run_id.to_owned());
    let label = format!("{} x{clients}", scenario.name());
    load::drive(&label, clients, r.warmup, r.duration, move |client, n| {
        let (tally, accounts) = (tally.clone(), accounts.clone());
        let key = format!("{run_id}-{client}-{n}");
        async move { request(&tally, &accounts, scenario, &key).await }
    })
    .await
}

async fn request(tally: &Tally, a: &Accounts, scenario: Scenario, key: &str) -> Outcome {
    match scenario {
        Scenario::Uncontended => {
            let (from, to) = a.pair();
            tally
                .outcome(
                    gql::TRANSFER,
                    json!({ "i": gql::transfer_input(from, to, "0.01", key) }),
                    1,
                )
                .await
        }
        Scenario::Hot => {
            let to = a.pick(Some(a.bank));
            tally
                .outcome(
                    gql::TRANSFER,
                    json!({ "i": gql::transfer_input(a.bank, to, "0.01", key) }),
                    1,
                )
                .await
        }
        Scenario::Deposits => {
            let to = a.pick(None);
            let input = json!({ "accountId": to, "amount": "0.01", "idempotencyKey": key });
            tally.outcome(gql::DEPOSIT, json!({ "i": input }), 1).await
        }
        Scenario::Batch100 => {
            let items: Vec<Value> = (0..100)
                .map(|i| {
                    let (from, to) = a.pair();
                    gql::transfer_input(from, to, "0.01", &format!("{key}-{i}"))
                })
                .collect();
            tally
                .outcome(gql::BATCH, json!({ "i": { "transfers": items } }), 100)
                .await
        }
        Scenario::EntriesFirstPage => tally.outcome(gql::ENTRIES, json!({ "id": a.bank }), 0).await,
        Scenario::EntriesPage1000 => {
            let after = gql::entry_cursor(9990);
            tally
                .outcome(gql::ENTRIES, json!({ "id": a.bank, "after": after }), 0)
                .await
        }
        Scenario::BalanceAt => {
            let at = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
            tally
                .outcome(gql::BALANCE_AT, json!({ "id": a.bank, "at": at }), 0)
                .await
        }
    }
}

/// Tops up the bank's history to at least `entries` entries (for deep pages).
pub async fn grow_bank_history(tally: &Tally, a: &Accounts, entries: usize, prefix: &str) -> Result<()> {
    for b in 0..entries.div_ceil(1000) {
        let items: Vec<Value> = (0..1000)
            .map(|i| gql::transfer_input(a.bank, a.pick(Some(a.bank)), "0.01", &format!("{prefix}-grow-{b}-{i}")))
            .collect();
        tally.data(gql::BATCH, json!({ "i": { "transfers": items } })).await?;
    }
    Ok(())
}

/// Adds random transfers until the ledger holds about `entries` entries.
pub async fn grow_ledger(tally: &Tally, a: &Accounts, entries: usize, prefix: &str) -> Result<()> {
    let batches = entries / 2 / 1000;
    for b in 0..batches {
        let items: Vec<Value> = (0..1000)
            .map(|i| {
                let (from, to) = a.pair();
                gql::transfer_input(from, to, "0.01", &format!("{prefix}-big-{b}-{i}"))
            })
            .collect();
        tally.data(gql::BATCH, json!({ "i": { "transfers": items } })).await?;
    }
    Ok(())
}
