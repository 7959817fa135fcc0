//! The `tally` binary as operators run it: a public address needs
//! credentials (and the `keys` commands make them), JSON logs carry the
//! request id, TLS serves HTTPS.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::process::{Server, free_port, run, serve_args};

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

/// `keys` takes `--database-url` after its subcommand too (as every other
/// command does), and `keys list` reads without migrating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_take_the_database_flag_anywhere_and_list_only_reads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let fresh = dir.path().join("fresh.db");
    let fresh_url = format!("sqlite:{}", fresh.display());
    let (status, out, err) = run(&["keys", "list", "--database-url", &fresh_url])?;
    ensure!(
        !status.success() && out.is_empty(),
        "listing an empty database succeeded: {out}"
    );
    ensure!(err.contains("tally migrate"), "{err}");
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(fresh_url.as_str()).await?;
    let tables = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ))
        .await?;
    ensure!(tables.is_empty(), "keys list migrated: {} tables", tables.len());
    let url = format!("sqlite:{}", dir.path().join("tally.db").display());
    let (status, key, err) = run(&[
        "keys",
        "create",
        "--name",
        "ops",
        "--scope",
        "read",
        "--database-url",
        &url,
    ])?;
    ensure!(status.success() && key.trim().starts_with("tally_"), "{err}");
    let (status, listing, err) = run(&["keys", "list", "--database-url", &url])?;
    ensure!(status.success() && listing.contains("ops"), "{listing} {err}");
    let (status, out, err) = run(&["keys", "revoke", "ops", "--database-url", &url])?;
    ensure!(status.success() && out.contains("revoked key ops"), "{out} {err}");
    Ok(())
}
