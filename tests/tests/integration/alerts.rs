//! Balance alerts: edge-triggered (one event per crossing, into or out of
//! the condition, never one per write while inside), decided on the locked
//! rows so that concurrent writes and write combining cannot double or lose
//! a crossing; delivered as webhooks and as the `balanceAlert` subscription.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::receiver::Receiver;
use tests::ws::WsClient;
use tests::{Backend, TestApp};

tests::each_backend!(
    an_alert_fires_once_per_crossing_to_webhooks_and_subscribers,
    concurrent_writes_cross_a_threshold_once
);

const ALERT: &str = "mutation($i: CreateBalanceAlertInput!) { createBalanceAlert(input: $i) { id condition threshold accountId currency } }";
const SUBSCRIBE: &str = "subscription($ids: [UUID!]!) { balanceAlert(accountIds: $ids) { accountId state availableBalance threshold condition alertId eventId } }";

async fn app(backend: Backend) -> Result<TestApp> {
    let mut options = api::ServerOptions::default();
    options.webhooks.poll = Duration::from_millis(20);
    tests::spawn_app_configured(backend, true, options).await
}

async fn an_alert_fires_once_per_crossing_to_webhooks_and_subscribers(backend: Backend) -> Result<()> {
    let app = app(backend).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "d").await?;
    let rx = Receiver::start().await?;
    app.data(
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { id } }",
        json!({ "i": { "url": rx.url, "eventTypes": ["BALANCE_ALERT"] } }),
    )
    .await?;
    let alert = app
        .data(
            ALERT,
            json!({ "i": { "accountId": a, "condition": "BELOW", "threshold": "50" } }),
        )
        .await?;
    ensure!(alert["createBalanceAlert"]["threshold"] == "50.00", "{alert}");
    // Every USD account above 1,000.
    app.data(
        ALERT,
        json!({ "i": { "currency": "USD", "condition": "ABOVE", "threshold": "1000.00" } }),
    )
    .await?;
    let mut ws = WsClient::connect(&app.base).await?;
    ws.subscribe("s", SUBSCRIBE, json!({ "ids": [a, b] })).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.withdraw(a, "30.00", "w1").await?; // 70: above the line, nothing
    app.withdraw(a, "25.00", "w2").await?; // 45: crosses below
    app.withdraw(a, "5.00", "w3").await?; // 40: still below, nothing
    app.deposit(a, "20.00", "d2").await?; // 60: back above
    let hold = app.hold(a, b, "15.00", "h", 60_000).await?; // available 45: below again
    ensure!(hold["errors"].is_null(), "{hold}");
    app.deposit(b, "1500.00", "big").await?; // b above 1,000
    let mut seen = Vec::new();
    for _ in 0..4 {
        let msg = ws.data(Duration::from_secs(10)).await?;
        seen.push(msg["balanceAlert"].clone());
    }
    let summary: Vec<(bool, &str, &str)> = seen
        .iter()
        .map(|e| {
            (
                e["accountId"] == a.to_string(),
                e["state"].as_str().unwrap_or(""),
                e["availableBalance"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let mut a_side: Vec<_> = summary.iter().filter(|s| s.0).map(|s| (s.1, s.2)).collect();
    let b_side: Vec<_> = summary.iter().filter(|s| !s.0).map(|s| (s.1, s.2)).collect();
    ensure!(
        a_side == [("TRIGGERED", "45.00"), ("RESOLVED", "60.00"), ("TRIGGERED", "45.00")],
        "{summary:?}"
    );
    ensure!(b_side == [("TRIGGERED", "1500.00")], "{summary:?}");
    // Nothing more: no event per write while inside.
    app.withdraw(a, "1.00", "w4").await?;
    ensure!(ws.data(Duration::from_millis(700)).await.is_err(), "an extra alert");
    // The same crossings as webhooks, in a's order.
    let got = rx
        .wait_for("four alert webhooks", Duration::from_secs(10), |r| r.len() >= 4)
        .await?;
    a_side.clear();
    for r in &got {
        let d = &r.json["data"];
        ensure!(r.kind == "balance.alert", "{}", r.body);
        if d["accountId"] == a.to_string() {
            a_side.push((
                d["state"].as_str().unwrap_or(""),
                d["availableBalance"].as_str().unwrap_or(""),
            ));
        }
    }
    ensure!(
        a_side == [("TRIGGERED", "45.00"), ("RESOLVED", "60.00"), ("TRIGGERED", "45.00")],
        "{a_side:?}"
    );
    app.assert_invariants().await
}

async fn concurrent_writes_cross_a_threshold_once(backend: Backend) -> Result<()> {
    let app = app(backend).await?;
    let a = app.open("a", "USD", None).await?;
    app.deposit(a, "100.00", "d").await?;
    app.data(
        ALERT,
        json!({ "i": { "accountId": a, "condition": "BELOW", "threshold": "50.00" } }),
    )
    .await?;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let gql = app.gql.clone();
            tokio::spawn(async move {
                let input = json!({ "accountId": a, "amount": "5.00", "idempotencyKey": format!("w{i}") });
                gql.data(tests::WITHDRAW, json!({ "i": input })).await
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    ensure!(app.balance(a).await? == "0.00");
    let alerts = alert_rows(&app).await?;
    ensure!(alerts.len() == 1, "one crossing, {} alerts: {alerts:?}", alerts.len());
    ensure!(
        alerts[0]["data"]["state"] == "TRIGGERED" && alerts[0]["data"]["availableBalance"] == "45.00",
        "{alerts:?}"
    );
    app.assert_invariants().await
}

/// Every balance.alert event in the outbox, in order.
async fn alert_rows(app: &TestApp) -> Result<Vec<Value>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use service::entity::webhook_event as ev;
    let rows = ev::Entity::find()
        .filter(ev::Column::Kind.eq("balance.alert"))
        .order_by_asc(ev::Column::Seq)
        .all(&app.db)
        .await?;
    Ok(rows
        .iter()
        .map(|r| serde_json::from_str(&r.payload).unwrap_or(Value::Null))
        .collect())
}
