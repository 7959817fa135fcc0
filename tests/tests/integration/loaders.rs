//! Nested fields are batched: a page of entries with their accounts,
//! transfers, holds and the transfers' entries and accounts costs at most
//! one statement per field, whether the page holds 10 entries or 100.
//!
//! The dataloader gathers keys for a time window from the first key; a debug
//! build under a parallel test run can take longer than the default 2 ms to
//! reach every key of a page of 100, so this server gets a 25 ms window.
//! What is tested is that no field costs a statement per row.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::{Backend, CAPTURE_HOLD, POST_TRANSFERS, TestApp, item, uuid_at};

tests::each_backend!(a_page_of_nested_entries_costs_the_same_statements_at_any_size);

async fn app(backend: Backend) -> Result<TestApp> {
    let options = api::ServerOptions {
        loader_delay: std::time::Duration::from_millis(25),
        ..Default::default()
    };
    tests::spawn_app_configured(backend, true, options).await
}

/// The query's own statements (`account`, its `entries` page) and one per
/// batched field: entry.account, entry.transfer, transfer.hold,
/// transfer.fromAccount/toAccount (one loader, one level), transfer.entries,
/// and those entries' accounts.
const MOST: u64 = 8;

const PAGE: &str = "query($a: UUID!, $n: Int!) { account(id: $a) { entries(first: $n) { edges { node { \
    sequence account { id code balance } \
    transfer { id kind hold { id status } fromAccount { code } toAccount { code } \
               entries { amount account { id code } } } } } } } }";

async fn statements_for(app: &TestApp, account: uuid::Uuid, n: usize) -> Result<u64> {
    let before = app.ledger.statements_executed();
    let data = app.data(PAGE, json!({ "a": account, "n": n })).await?;
    let used = app.ledger.statements_executed() - before;
    let edges = data["account"]["entries"]["edges"].as_array().map_or(0, Vec::len);
    ensure!(edges == n, "asked for {n} entries, got {edges}");
    let with_hold = data["account"]["entries"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["node"]["transfer"]["hold"]["id"].is_string())
        .count();
    ensure!(
        n < 10 || with_hold == 1,
        "the captured hold is not in the page: {with_hold}"
    );
    Ok(used)
}

async fn a_page_of_nested_entries_costs_the_same_statements_at_any_size(backend: Backend) -> Result<()> {
    let app = app(backend).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "1000.00", "seed").await?;
    let hold = uuid_at(&app.hold(a, b, "5.00", "h", 60_000).await?["data"]["createHold"]["id"])?;
    app.data(CAPTURE_HOLD, json!({ "i": { "holdId": hold, "idempotencyKey": "c" } }))
        .await?;
    let items: Vec<Value> = (0..120).map(|i| item(a, b, "1.00", &format!("t{i}"))).collect();
    app.data(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    // The fewest of three tries: the server's own background reads on the
    // same pool (the API key list, reloaded every second) may land in one.
    let mut small = u64::MAX;
    let mut large = u64::MAX;
    for _ in 0..3 {
        small = small.min(statements_for(&app, a, 10).await?);
        large = large.min(statements_for(&app, a, 100).await?);
    }
    ensure!(
        small <= MOST && large <= MOST,
        "10 entries took {small} statements and 100 took {large}, more than one per field ({MOST})"
    );
    app.assert_invariants().await
}
