//! Subscriptions over a real websocket (graphql-transport-ws): gap-free
//! resume from a cursor while writes go on, delivery across instances,
//! account states after each change, coded errors, and slow consumers cut off.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use futures::future::join_all;
use serde_json::{Value, json};
use tests::ws::{Event, WsClient};
use tests::{Backend, POST_TRANSFERS, TestApp, both, item};
use uuid::Uuid;

both!(
    a_resumed_entry_feed_has_no_gap_and_no_duplicate_under_concurrent_writes,
    a_commit_on_one_instance_reaches_a_subscriber_on_another,
    balance_changed_sends_the_account_after_each_change,
    bad_subscription_arguments_get_coded_errors_and_write_nothing,
);
tests::each_backend!(a_subscriber_that_stops_reading_is_cut_off_with_a_reason);

const WAIT: Duration = Duration::from_secs(10);

const ENTRY_POSTED: &str = "subscription($a: UUID!, $after: String) { entryPosted(accountId: $a, after: $after) { sequence cursor amount balanceAfter } }";
const BALANCE_CHANGED: &str = "subscription($ids: [UUID!]!) { balanceChanged(accountIds: $ids) { id balance heldBalance availableBalance version } }";

/// Reads `entryPosted` payloads until `until` (a sequence) or `stop_after` entries.
async fn read_entries(
    client: &mut WsClient,
    seen: &mut Vec<(i64, String)>,
    stop_after: usize,
    until: i64,
) -> Result<()> {
    let mut n = 0;
    while n < stop_after && seen.last().is_none_or(|(s, _)| *s < until) {
        let data = client.data(WAIT).await?;
        let e = &data["entryPosted"];
        let seq = e["sequence"].as_i64().unwrap_or(-1);
        seen.push((seq, e["cursor"].as_str().unwrap().to_owned()));
        n += 1;
    }
    Ok(())
}

async fn a_resumed_entry_feed_has_no_gap_and_no_duplicate_under_concurrent_writes(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let first = app
        .data(
            "mutation($i: DepositInput!) { deposit(input: $i) { entries { cursor sequence account { id } } } }",
            json!({ "i": { "accountId": a, "amount": "1000.00", "idempotencyKey": "seed" } }),
        )
        .await?;
    let entries = first["deposit"]["entries"].as_array().cloned().unwrap();
    let Some(cursor) = entries.iter().find(|e| e["account"]["id"] == json!(a.to_string())) else {
        bail!("no entry on a: {first}")
    };
    let mut client = WsClient::connect(&app.base).await?;
    client
        .subscribe("1", ENTRY_POSTED, json!({ "a": a, "after": cursor["cursor"] }))
        .await?;
    let writers = (0..3).map(|w| {
        let app = &app;
        async move {
            for i in 0..20 {
                let key = format!("w{w}-{i}");
                let body = match i % 4 {
                    3 => app.deposit(a, "0.50", &key).await?,
                    _ => app.transfer(a, b, "1.00", &key).await?,
                };
                ensure!(body.get("errors").is_none(), "{body}");
            }
            anyhow::Ok(())
        }
    });
    let writing = join_all(writers);
    let reading = async {
        let mut seen = Vec::new();
        read_entries(&mut client, &mut seen, 15, i64::MAX).await?;
        client.close().await?;
        tokio::time::sleep(Duration::from_millis(150)).await; // writes go on meanwhile
        let mut again = WsClient::connect(&app.base).await?;
        let last = seen.last().map(|(_, c)| c.clone());
        again
            .subscribe("2", ENTRY_POSTED, json!({ "a": a, "after": last }))
            .await?;
        anyhow::Ok((seen, again))
    };
    let (written, read) = tokio::join!(writing, reading);
    written.into_iter().collect::<Result<Vec<()>>>()?;
    let (mut seen, mut again) = read?;
    let total = 1 + 60;
    read_entries(&mut again, &mut seen, usize::MAX, total).await?;
    let sequences: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    ensure!(
        sequences == (2..=total).collect::<Vec<i64>>(),
        "entries 2..={total} once each, in order; got {sequences:?}"
    );
    ensure!(
        again.event(Duration::from_millis(500)).await.is_err(),
        "an entry beyond the last one written"
    );
    app.assert_invariants().await
}

async fn a_commit_on_one_instance_reaches_a_subscriber_on_another(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let other = app.serve_second_instance().await?;
    let mut entries = WsClient::connect(&other).await?;
    entries.subscribe("e", ENTRY_POSTED, json!({ "a": a })).await?;
    let mut balances = WsClient::connect(&other).await?;
    balances.subscribe("b", BALANCE_CHANGED, json!({ "ids": [a] })).await?;
    tokio::time::sleep(Duration::from_millis(100)).await; // both subscriptions registered
    app.deposit(a, "12.50", "on-a").await?; // committed by instance A
    let entry = entries.data(WAIT).await?;
    ensure!(
        entry["entryPosted"]["sequence"] == json!(1) && entry["entryPosted"]["amount"] == json!("12.50"),
        "{entry}"
    );
    let account = balances.data(WAIT).await?;
    ensure!(account["balanceChanged"]["balance"] == json!("12.50"), "{account}");
    app.assert_invariants().await
}

async fn balance_changed_sends_the_account_after_each_change(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let mut client = WsClient::connect(&app.base).await?;
    client.subscribe("1", BALANCE_CHANGED, json!({ "ids": [a, b] })).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.transfer(a, b, "4.00", "t").await?;
    let mut latest = std::collections::HashMap::new();
    while latest.len() < 2 {
        let d = client.data(WAIT).await?;
        latest.insert(d["balanceChanged"]["id"].as_str().unwrap().to_owned(), d);
    }
    ensure!(
        latest[&a.to_string()]["balanceChanged"]["balance"] == json!("6.00"),
        "{latest:?}"
    );
    ensure!(
        latest[&b.to_string()]["balanceChanged"]["balance"] == json!("4.00"),
        "{latest:?}"
    );
    let version = latest[&a.to_string()]["balanceChanged"]["version"].as_i64().unwrap();
    app.hold(a, b, "1.50", "h", 60_000).await?;
    let held = loop {
        let d = client.data(WAIT).await?;
        if d["balanceChanged"]["id"] == json!(a.to_string()) {
            break d;
        }
    };
    let held = &held["balanceChanged"];
    ensure!(
        held["heldBalance"] == json!("1.50") && held["availableBalance"] == json!("4.50"),
        "{held}"
    );
    ensure!(held["version"].as_i64().unwrap() > version, "{held}");
    app.assert_invariants().await
}

async fn bad_subscription_arguments_get_coded_errors_and_write_nothing(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let before = app.snapshot().await?;
    let cases: [(&str, Value, &str); 6] = [
        (ENTRY_POSTED, json!({ "a": "not-a-uuid" }), "INVALID_INPUT"),
        (ENTRY_POSTED, json!({ "a": Uuid::now_v7() }), "ACCOUNT_NOT_FOUND"),
        (ENTRY_POSTED, json!({ "a": a, "after": "bogus" }), "INVALID_INPUT"),
        (BALANCE_CHANGED, json!({ "ids": [] }), "INVALID_INPUT"),
        (
            BALANCE_CHANGED,
            json!({ "ids": [a, Uuid::now_v7()] }),
            "ACCOUNT_NOT_FOUND",
        ),
        (
            "subscription { entryPosted(accountId: \"x\") { nope } }",
            json!({}),
            "INVALID_INPUT",
        ),
    ];
    let mut client = WsClient::connect(&app.base).await?;
    for (i, (query, vars, code)) in cases.into_iter().enumerate() {
        client.subscribe(&i.to_string(), query, vars.clone()).await?;
        let got = client.error_code(WAIT).await?;
        ensure!(got == code, "{query} {vars}: expected {code}, got {got}");
    }
    ensure!(app.snapshot().await? == before, "a subscription wrote something");
    ensure!(
        app.ledger.watched_accounts() == 0,
        "a refused subscription still watches"
    );
    Ok(())
}

/// With a queue of 8 messages, a client that reads nothing (and has a tiny
/// socket buffer) while 2,400 entries post is closed with 1013 and a reason;
/// its subscription stops watching at once.
async fn a_subscriber_that_stops_reading_is_cut_off_with_a_reason(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        ws: api::WsOptions {
            buffer: 8,
            ..Default::default()
        },
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100000.00", "seed").await?;
    let mut lazy = WsClient::connect_with(&app.base, Some(2048)).await?;
    let fat =
        "subscription($a: UUID!) { entryPosted(accountId: $a) { sequence cursor hash transfer { id metadata } } }";
    lazy.subscribe("1", fat, json!({ "a": a })).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    ensure!(app.ledger.watched_accounts() == 1, "the subscription is not watching");
    // Loopback's 64 KiB segments let the kernel buffer megabytes, so each
    // message carries 2 KiB of metadata: 2,400 entries are about 5 MiB.
    let filler = "x".repeat(2048);
    for batch in 0..6 {
        let items: Vec<Value> = (0..400)
            .map(|i| {
                let mut it = item(a, b, "1.00", &format!("slow-{batch}-{i}"));
                it["metadata"] = json!({ "filler": filler });
                it
            })
            .collect();
        app.data(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.ledger.watched_accounts() > 0 {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the slow subscriber was never cut off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut received = BTreeSet::new();
    let (code, reason) = loop {
        match lazy.event(WAIT).await? {
            Event::Next(p) => {
                received.insert(p["data"]["entryPosted"]["sequence"].as_i64().unwrap());
            }
            Event::Closed { code, reason } => break (code, reason),
            other => bail!("unexpected {other:?}"),
        }
    };
    ensure!(
        code == 1013 && reason.contains("slow consumer"),
        "closed with {code} {reason:?}"
    );
    ensure!(
        received.len() < 2400,
        "it got everything, so it was not slow: {}",
        received.len()
    );
    app.assert_invariants().await
}
