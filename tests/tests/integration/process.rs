//! The `tally` binary as operators run it: SIGTERM under load loses no
//! acknowledged request, a public address needs credentials (and the `keys`
//! commands provide them), JSON logs carry request ids, TLS serves HTTPS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::Backend;
use tests::process::{Server, free_port, run};

mod sigterm_under_load {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() -> Result<()> {
        sigterm_under_load_loses_no_acknowledged_request(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() -> Result<()> {
        sigterm_under_load_loses_no_acknowledged_request(Backend::Postgres).await
    }
}

async fn database(backend: Backend, dir: &tempfile::TempDir) -> Result<String> {
    Ok(match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("tally.db").display()),
        Backend::Postgres => tests::fresh_postgres_database().await?,
    })
}

fn serve_args(listen: &str, url: &str, dir: &tempfile::TempDir, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["serve", "--listen", listen, "--database-url", url, "--data-dir"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.push(dir.path().display().to_string());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
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
        let found = service::transfer::by_idempotency_key(&ledger, key).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_public_address_needs_credentials_which_the_keys_commands_make() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("tally.db").display());
    let public = format!("0.0.0.0:{}", free_port()?);
    let args = serve_args(&public, &url, &dir, &[]);
    let mut refused = Server::start(&args, &[], dir.path().join("refused.log"), "http://unused")?;
    let status = refused.wait_exit(Duration::from_secs(30)).await?;
    ensure!(!status.success(), "serving 0.0.0.0 without credentials started");
    ensure!(
        refused.log_text().contains("refusing to serve"),
        "{}",
        refused.log_text()
    );

    let (status, key, err) = run(&[
        "keys",
        "--database-url",
        &url,
        "create",
        "--name",
        "ops",
        "--scope",
        "admin",
    ])?;
    ensure!(status.success(), "{err}");
    let key = key.trim().to_owned();
    ensure!(key.starts_with("tally_") && key.len() == 49, "{key:?}");
    let (status, listing, _) = run(&["keys", "--database-url", &url, "list"])?;
    ensure!(
        status.success() && listing.contains("ops") && !listing.contains(&key),
        "{listing}"
    );

    let port = free_port()?;
    let args = serve_args(&format!("0.0.0.0:{port}"), &url, &dir, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server::start(&args, &[], dir.path().join("served.log"), &base)?;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await?;
    let query = json!({ "query": "{ currencies { code } }" });
    let anonymous = client.post(format!("{base}/graphql")).json(&query).send().await?;
    ensure!(anonymous.status().as_u16() == 401, "{}", anonymous.status());
    let keyed = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&key)
        .json(&query)
        .send()
        .await?;
    ensure!(keyed.status().as_u16() == 200, "{}", keyed.status());
    server.terminate()?;
    ensure!(server.wait_exit(Duration::from_secs(30)).await?.success());
    let (status, out, _) = run(&["keys", "--database-url", &url, "revoke", "ops"])?;
    ensure!(status.success() && out.contains("revoked"), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_logs_carry_the_request_id_the_response_returns() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("tally.db").display());
    let listen = format!("127.0.0.1:{}", free_port()?);
    let base = format!("http://{listen}");
    let args = serve_args(&listen, &url, &dir, &["--log-format", "json"]);
    let mut server = Server::start(
        &args,
        &[("RUST_LOG", "info,api=debug")],
        dir.path().join("tally.log"),
        &base,
    )?;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await?;
    let body: Value = client
        .post(format!("{base}/graphql"))
        .header("x-request-id", "json-test-1")
        .json(&json!({ "query": "{ currencies { code } }" }))
        .send()
        .await?
        .json()
        .await?;
    ensure!(body["extensions"]["requestId"] == json!("json-test-1"), "{body}");
    server.terminate()?;
    server.wait_exit(Duration::from_secs(30)).await?;
    let log = server.log_text();
    let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    ensure!(
        !lines.is_empty() && lines.len() == log.lines().count(),
        "not all JSON:\n{log}"
    );
    ensure!(
        lines
            .iter()
            .any(|l| l["request_id"] == json!("json-test-1") && l["operation"] == json!("currencies")),
        "no log line carries the request id:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_serves_https_with_the_given_certificate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("tally.db").display());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem())?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())?;
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let tls = [
        "--tls-cert",
        cert_path.to_str().unwrap_or_default(),
        "--tls-key",
        key_path.to_str().unwrap_or_default(),
    ];
    let args = serve_args(&listen, &url, &dir, &tls);
    let base = format!("https://localhost:{port}");
    let mut server = Server::start(&args, &[], dir.path().join("tally.log"), &base)?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes())?)
        .resolve("localhost", listen.parse()?)
        .build()?;
    server.wait_ready(&client).await?;
    let body: Value = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": "{ currencies { code } }" }))
        .send()
        .await?
        .json()
        .await?;
    ensure!(body["data"]["currencies"].is_array(), "{body}");
    let plain = reqwest::Client::new()
        .get(format!("http://{listen}/healthz"))
        .send()
        .await;
    ensure!(
        plain.map_or(true, |r| !r.status().is_success()),
        "plain HTTP answered on the TLS port"
    );
    server.terminate()?;
    ensure!(
        server.wait_exit(Duration::from_secs(30)).await?.success(),
        "{}",
        server.log_text()
    );
    Ok(())
}
