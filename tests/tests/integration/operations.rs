//! Operating Tally: health and readiness, Prometheus metrics, request ids,
//! deadlines and statement timeouts (coded, nothing half-written), and
//! error texts that never carry SQL or driver detail.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use tests::{Backend, TRANSFER, TestApp, both, code_of};

both!(
    health_readiness_and_metrics_are_served,
    every_response_carries_its_request_id,
    readiness_reports_missing_migrations,
    failures_inside_the_server_never_reach_the_client_as_text,
);
tests::each_backend!(a_request_past_its_deadline_is_unavailable_and_never_half_written);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_past_the_timeout_is_cancelled_and_rolled_back() -> Result<()> {
    let app = tests::spawn_app_full(
        Backend::Postgres,
        true,
        api::ServerOptions::default(),
        Some(Duration::from_millis(300)),
    )
    .await?;
    let (a, b) = funded(&app).await?;
    let before = app.snapshot().await?;
    let lock = app.db.begin().await?;
    lock.execute_unprepared(&format!("SELECT 1 FROM account WHERE id = '{a}' FOR UPDATE"))
        .await?;
    let started = Instant::now();
    let body = app.transfer(a, b, "1.00", "blocked").await?;
    let took = started.elapsed();
    lock.rollback().await?;
    ensure!(code_of(&body)? == "UNAVAILABLE", "{body}");
    ensure!(
        took < Duration::from_secs(5),
        "the statement timeout did not cut the wait: {took:?}"
    );
    ensure_generic(&body)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(
        app.snapshot().await? == before,
        "a cancelled statement left something behind"
    );
    let retried = app.transfer(a, b, "1.00", "blocked").await?;
    ensure!(retried["data"]["transfer"]["id"].is_string(), "{retried}");
    app.assert_invariants().await
}

/// The fault suite's 10-minute run found `verifyLedger` cancelled by the
/// pool's statement timeout once the ledger had grown: an audit's
/// statements stream the whole ledger. They must not be cut (a request
/// deadline bounds `verifyLedger`; `tally verify` has none).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_audit_is_not_cut_by_the_statement_timeout() -> Result<()> {
    let app = tests::spawn_app(Backend::Postgres).await?;
    let (a, b) = funded(&app).await?;
    app.deposit(a, "10000.00", "more").await?;
    for batch in 0..2 {
        let items: Vec<Value> = (0..1000)
            .map(|i| tests::item(a, b, "0.01", &format!("t{batch}-{i}")))
            .collect();
        app.data(tests::POST_TRANSFERS, json!({ "i": { "transfers": items } }))
            .await?;
    }
    // 4,000 entries streamed and hashed take far longer than 1 ms.
    let strict = service::Ledger::open_with(&app.database_url(), false, Some(Duration::from_millis(1))).await?;
    let v = service::verify::verify(&strict).await?;
    ensure!(v.ok() && v.entries_checked >= 4000, "{:?}", v.problems);
    Ok(())
}

/// While the database refuses connections, /readyz answers 503 at once
/// (not after the pool's 30 s acquire timeout: the fault suite saw it hang
/// during a crash), writes answer UNAVAILABLE, and once the database takes
/// connections again the same process serves both again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_and_writes_follow_the_database_down_and_back() -> Result<()> {
    let app = tests::spawn_app(Backend::Postgres).await?;
    let (a, b) = funded(&app).await?;
    let db = app.database_url().rsplit('/').next().unwrap_or_default().to_owned();
    let admin = std::env::var("TALLY_TEST_PG_URL")?;
    let admin = sea_orm::Database::connect(admin.as_str()).await?;
    let cut = format!(
        "ALTER DATABASE {db} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    );
    admin.execute_unprepared(&cut).await?;
    let started = Instant::now();
    let (status, _) = get(&app, "/readyz").await?;
    ensure!(
        status == 503,
        "/readyz said {status} while the database refused connections"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(3),
        "/readyz took {:?}",
        started.elapsed()
    );
    ensure!(
        get(&app, "/healthz").await?.0 == 200,
        "liveness does not depend on the database"
    );
    let body = app.transfer(a, b, "1.00", "while-down").await?;
    ensure!(code_of(&body)? == "UNAVAILABLE", "{body}");
    ensure_generic(&body)?;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .await?;
    let back = Instant::now();
    while get(&app, "/readyz").await?.0 != 200 {
        ensure!(back.elapsed() < Duration::from_secs(15), "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retried = app.transfer(a, b, "1.00", "while-down").await?;
    ensure!(retried["data"]["transfer"]["id"].is_string(), "{retried}");
    app.assert_invariants().await
}

async fn funded(app: &TestApp) -> Result<(uuid::Uuid, uuid::Uuid)> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    Ok((a, b))
}

/// No SQL, driver or table text in any message.
fn ensure_generic(body: &Value) -> Result<()> {
    let text = body.to_string().to_lowercase();
    for leak in [
        "sql",
        "statement",
        "relation",
        "table",
        "canceling",
        "database error",
        "panick",
    ] {
        ensure!(!text.contains(leak), "{leak:?} leaked: {body}");
    }
    Ok(())
}

async fn get(app: &TestApp, path: &str) -> Result<(u16, String)> {
    let res = app.client.get(format!("{}{path}", app.base)).send().await?;
    Ok((res.status().as_u16(), res.text().await?))
}

async fn health_readiness_and_metrics_are_served(app: TestApp) -> Result<()> {
    ensure!(get(&app, "/healthz").await? == (200, "ok".to_owned()));
    ensure!(get(&app, "/readyz").await? == (200, "ok".to_owned()));
    let (a, _) = funded(&app).await?;
    app.deposit(a, "1.00", "more").await?;
    service::seal::seal_once(&app.ledger).await?;
    let (status, text) = get(&app, "/metrics").await?;
    ensure!(status == 200);
    for needle in [
        "tally_requests_total{operation=\"deposit\",outcome=\"ok\"}",
        "tally_request_duration_seconds_bucket{operation=\"deposit\"",
        "tally_combined_run_requests_bucket",
        "tally_seal_lag_seconds_bucket",
        "tally_db_statements_total",
        "tally_db_pool_connections{state=\"idle\"}",
    ] {
        ensure!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
    Ok(())
}

async fn every_response_carries_its_request_id(app: TestApp) -> Result<()> {
    let query = json!({ "query": "{ currencies { code } }" });
    let res = app
        .client
        .post(&app.endpoint)
        .header("x-request-id", "trace-abc.1")
        .json(&query)
        .send()
        .await?;
    ensure!(res.headers().get("x-request-id").and_then(|v| v.to_str().ok()) == Some("trace-abc.1"));
    let body: Value = res.json().await?;
    ensure!(body["extensions"]["requestId"] == json!("trace-abc.1"), "{body}");
    for (header, bad) in [(Some("has spaces in it"), true), (None, false)] {
        let mut req = app.client.post(&app.endpoint).body("not json");
        if let Some(h) = header {
            req = req.header("x-request-id", h);
        }
        let res = req.send().await?;
        let echoed = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = res.json().await?;
        let id = body["extensions"]["requestId"].as_str().map(str::to_owned);
        ensure!(id.is_some() && id == echoed, "{body}");
        ensure!(!bad || id.as_deref() != header, "an unsafe request id was echoed");
    }
    Ok(())
}

async fn readiness_reports_missing_migrations(app: TestApp) -> Result<()> {
    let last = "(SELECT max(version) FROM seaql_migrations)";
    app.sql(&format!(
        "CREATE TABLE saved AS SELECT * FROM seaql_migrations WHERE version = {last}"
    ))
    .await?;
    app.sql(&format!("DELETE FROM seaql_migrations WHERE version = {last}"))
        .await?;
    let (status, text) = get(&app, "/readyz").await?;
    ensure!(status == 503 && text.contains("migration"), "{status} {text}");
    ensure!(
        get(&app, "/healthz").await?.0 == 200,
        "liveness does not depend on the database"
    );
    app.sql("INSERT INTO seaql_migrations SELECT * FROM saved").await?;
    ensure!(get(&app, "/readyz").await?.0 == 200);
    Ok(())
}

async fn failures_inside_the_server_never_reach_the_client_as_text(app: TestApp) -> Result<()> {
    let (a, b) = funded(&app).await?;
    let t = app.transfer(a, b, "1.00", "t").await?;
    let id = &t["data"]["transfer"]["id"];
    // A nested field whose batch load fails.
    app.tamper("DROP TABLE entry").await?;
    let body = app
        .post(
            "query($id: UUID!) { transfer(id: $id) { id entries { id } } }",
            json!({ "id": id }),
        )
        .await?;
    ensure!(code_of(&body)? == "INTERNAL", "{body}");
    ensure_generic(&body)?;
    // The key table gone: the instance keeps its last copy of the keys (and
    // keeps requiring one); nothing of the failure reaches a client.
    let keys = app.keys(&[("k", service::store::api_key::Scope::Read)]).await?;
    app.sql("DROP TABLE api_key").await?;
    tokio::time::sleep(Duration::from_millis(1300)).await; // a failed reload or two
    let unknown = format!("tally_{}", "B".repeat(43));
    let (status, body) = app
        .post_as(Some(&unknown), "{ currencies { code } }", json!({}))
        .await?;
    ensure!(status == 401 && code_of(&body)? == "UNAUTHENTICATED", "{status} {body}");
    ensure_generic(&body)?;
    let (status, body) = app.post_as(None, "{ currencies { code } }", json!({})).await?;
    ensure!(
        status == 401,
        "the server opened up when its key table went away: {body}"
    );
    let (status, body) = app
        .post_as(Some(&keys[0]), "{ currencies { code } }", json!({}))
        .await?;
    ensure!(status == 200, "{status} {body}");
    Ok(())
}

async fn a_request_past_its_deadline_is_unavailable_and_never_half_written(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        request_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let (a, b) = funded(&app).await?;
    // Another client holds what the transfer needs: the account's row lock
    // (PostgreSQL) or the database's write lock (SQLite).
    let lock = match backend {
        Backend::Postgres => {
            let txn = app.db.begin().await?;
            txn.execute_unprepared(&format!("SELECT 1 FROM account WHERE id = '{a}' FOR UPDATE"))
                .await?;
            txn
        }
        Backend::Sqlite => {
            let txn = app
                .db
                .begin_with_options(sea_orm::TransactionOptions {
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await?;
            txn.execute_unprepared("UPDATE currency SET scale = scale WHERE code = 'USD'")
                .await?;
            txn
        }
    };
    let before = match backend {
        // The test's SQLite pool has one connection, held by the lock.
        Backend::Sqlite => None,
        Backend::Postgres => Some(app.snapshot().await?),
    };
    let res = app
        .client
        .post(&app.endpoint)
        .json(&json!({ "query": TRANSFER, "variables": { "i": { "fromAccountId": a, "toAccountId": b, "amount": "1.00", "idempotencyKey": "late" } } }))
        .send()
        .await?;
    ensure!(res.status().as_u16() == 503, "{}", res.status());
    ensure!(res.headers().contains_key("retry-after"), "no Retry-After");
    let body: Value = res.json().await?;
    ensure!(code_of(&body)? == "UNAVAILABLE", "{body}");
    if let Some(before) = before {
        ensure!(
            app.snapshot().await? == before,
            "half of the transfer is visible while it waits"
        );
    }
    lock.rollback().await?;
    // The work was not abandoned half-way: it commits whole once the lock
    // goes, and a retry under the key returns it (once).
    let deadline = Instant::now() + Duration::from_secs(10);
    let retried = loop {
        let r = app.transfer(a, b, "1.00", "late").await?;
        if r["data"]["transfer"]["id"].is_string() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(retried["data"]["transfer"]["id"].is_string(), "{retried}");
    ensure!(app.balance(a).await? == "9.00", "moved once");
    app.assert_invariants().await
}
