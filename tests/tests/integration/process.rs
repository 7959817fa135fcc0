//! The `tally` binary stopped hard or soft: SIGTERM under load loses no
//! acknowledged request; on SQLite, `kill -9` mid-burst loses none either.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::json;
use tests::Backend;
use tests::process::{Server, free_port, serve_args};

tests::each_backend!(sigterm_under_load_loses_no_acknowledged_request);

async fn database(backend: Backend, dir: &tempfile::TempDir) -> Result<String> {
    Ok(match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("tally.db").display()),
        Backend::Postgres => tests::fresh_postgres_database().await?,
    })
}

async fn sigterm_under_load_loses_no_acknowledged_request(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database(backend, &dir).await?;
    let listen = format!("127.0.0.1:{}", free_port()?);
    let base = format!("http://{listen}");
    let args = serve_args(&listen, &url, &dir, &["--seal-interval-ms", "100"]);
    let mut server = Server::start(&args, &[], dir.path().join("tally.log"), &base)?;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await?;
    let gql = bench::gql::Tally::new(&base);
    let mut accounts = Vec::new();
    for i in 0..8 {
        let id = gql.open(&format!("acct-{i}"), "USD").await?;
        gql.data(
            tests::DEPOSIT,
            json!({ "i": { "accountId": id, "amount": "1000.00", "idempotencyKey": format!("seed-{i}") } }),
        )
        .await?;
        accounts.push(id);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (gql, accounts, stop) = (gql.clone(), accounts.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (accounts[(c + i) % 8], accounts[(c + i + 1) % 8]);
                    let key = format!("c{c}-{i}");
                    let vars = json!({ "i": { "fromAccountId": from, "toAccountId": to, "amount": "0.01", "idempotencyKey": key } });
                    match gql.post(tests::TRANSFER, vars).await {
                        Ok(body) if body["data"]["transfer"]["id"].is_string() => acknowledged.push(key),
                        Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                    i += 1;
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.terminate()?;
    let status = server.wait_exit(Duration::from_secs(40)).await?;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for c in clients {
        acknowledged.extend(c.await?);
    }
    ensure!(status.success(), "tally exited with {status}:\n{}", server.log_text());
    ensure!(
        server.log_text().contains("every in-flight request finished"),
        "{}",
        server.log_text()
    );
    ensure!(
        acknowledged.len() > 50,
        "too little load to test anything: {}",
        acknowledged.len()
    );
    let ledger = service::Ledger::open(&url, false).await?;
    for key in &acknowledged {
        let found = service::store::transfer::by_idempotency_key(&ledger, key).await;
        ensure!(
            found.is_ok(),
            "acknowledged transfer {key} is not in the ledger: {found:?}"
        );
    }
    let db = sea_orm::Database::connect(url.as_str()).await?;
    tests::invariants::check(&db).await?;
    let v = service::verify::verify(&ledger).await?;
    ensure!(v.problems.is_empty(), "{:?}", v.problems);
    Ok(())
}

/// SQLite, one process: `kill -9` in the middle of a write burst, then a
/// restart on the same file. Every transfer acknowledged before the kill is
/// there (synchronous=FULL: an acknowledged commit is on disk), and the
/// ledger verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_kill_9_in_a_write_burst_with_every_acknowledged_transfer() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("tally.db").display());
    let listen = format!("127.0.0.1:{}", free_port()?);
    let base = format!("http://{listen}");
    let args = serve_args(&listen, &url, &dir, &[]);
    let mut server = Server::start(&args, &[], dir.path().join("first.log"), &base)?;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await?;
    let gql = bench::gql::Tally::new(&base);
    let (a, b) = (gql.open("a", "USD").await?, gql.open("b", "USD").await?);
    gql.data(
        tests::DEPOSIT,
        json!({ "i": { "accountId": a, "amount": "100000.00", "idempotencyKey": "seed" } }),
    )
    .await?;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let gql = gql.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let key = format!("w{w}-{i}");
                    let vars = json!({ "i": { "fromAccountId": a, "toAccountId": b, "amount": "0.01", "idempotencyKey": key } });
                    match gql.post(tests::TRANSFER, vars).await {
                        Ok(body) if body["data"]["transfer"]["id"].is_string() => acknowledged.push(key),
                        _ => break, // the process is gone
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.child.kill()?; // SIGKILL, mid-burst
    server.child.wait()?;
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await?);
    }
    ensure!(acknowledged.len() > 50, "too little load: {}", acknowledged.len());
    let mut again = Server::start(&args, &[], dir.path().join("second.log"), &base)?;
    again.wait_ready(&client).await?;
    for key in &acknowledged {
        let body = gql
            .data(
                "query($k: String!) { transferByIdempotencyKey(key: $k) { id } }",
                json!({ "k": key }),
            )
            .await?;
        ensure!(
            body["transferByIdempotencyKey"]["id"].is_string(),
            "acknowledged transfer {key} was lost by the crash"
        );
    }
    let verified = gql.data("{ verifyLedger { ok } }", json!({})).await?;
    ensure!(verified["verifyLedger"]["ok"] == json!(true), "{verified}");
    let db = sea_orm::Database::connect(url.as_str()).await?;
    tests::invariants::check(&db).await?;
    again.terminate()?;
    ensure!(again.wait_exit(Duration::from_secs(30)).await?.success());
    Ok(())
}
