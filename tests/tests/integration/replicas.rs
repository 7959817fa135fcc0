//! Reads from a streaming replica (`--replica-database-url`), on a real
//! standby of the test server (`pg_basebackup -R`): a write answers with a
//! consistency token; a read that brings it never sees an older state,
//! also while the replica's replay is paused (it reads from the primary
//! then) and while writes and reads race with replication; a read without
//! one gets the replica as it is; a replica that dies sends reads to the
//! primary. PostgreSQL only: SQLite has no replicas, and the server refuses
//! the option there.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use service::store::replica::Lsn;
use tests::replica::PgReplica;
use tests::{TestApp, code_of};
use uuid::Uuid;

const TOKEN: &str = "tally-consistency-token";
const READ_FROM: &str = "tally-read-from";

/// One answer: its body and the two headers.
struct Answer {
    status: u16,
    body: Value,
    token: Option<String>,
    read_from: Option<String>,
}

async fn post(app: &TestApp, body: Value, token: Option<&str>) -> Result<Answer> {
    let mut request = app.client.post(&app.endpoint).json(&body);
    if let Some(token) = token {
        request = request.header(TOKEN, token);
    }
    let response = request.send().await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (token, read_from) = (header(TOKEN), header(READ_FROM));
    let status = response.status().as_u16();
    Ok(Answer {
        status,
        body: response.json().await?,
        token,
        read_from,
    })
}

async fn deposit(app: &TestApp, account: Uuid, amount: &str, key: &str) -> Result<String> {
    let query = "mutation($a: UUID!, $m: Decimal!, $k: String!) { deposit(input: { accountId: $a, amount: $m, idempotencyKey: $k }) { id } }";
    let answer = post(
        app,
        json!({ "query": query, "variables": { "a": account, "m": amount, "k": key } }),
        None,
    )
    .await?;
    ensure!(answer.body["data"]["deposit"]["id"].is_string(), "{}", answer.body);
    let in_body = answer.body["extensions"]["consistencyToken"]
        .as_str()
        .context("a write answers with extensions.consistencyToken")?;
    ensure!(
        answer.token.as_deref() == Some(in_body),
        "the header and the body carry the same token"
    );
    ensure!(answer.read_from.is_none(), "a write is not a read");
    Ok(in_body.to_owned())
}

const BALANCE: &str = "query($id: UUID!) { account(id: $id) { balance } }";

/// The balance, and where it was read, with `token` in the header.
async fn balance(app: &TestApp, account: Uuid, token: Option<&str>) -> Result<(String, String)> {
    let (balance, from, _) = balance_and_token(app, account, token).await?;
    Ok((balance, from))
}

/// The same, with the token the read answered with.
async fn balance_and_token(app: &TestApp, account: Uuid, token: Option<&str>) -> Result<(String, String, String)> {
    let answer = post(app, json!({ "query": BALANCE, "variables": { "id": account } }), token).await?;
    let balance = answer.body["data"]["account"]["balance"]
        .as_str()
        .with_context(|| format!("no balance: {}", answer.body))?;
    let from = answer.read_from.context("a read says where it read")?;
    let in_body = answer.body["extensions"]["consistencyToken"]
        .as_str()
        .context("a read answers with a token too")?;
    ensure!(
        answer.token.as_deref() == Some(in_body),
        "the header and the body carry the same token"
    );
    Ok((balance.to_owned(), from, in_body.to_owned()))
}

fn lsn(token: &str) -> Result<Lsn> {
    token.parse().map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_with_a_token_never_see_an_older_state() -> Result<()> {
    let replica = PgReplica::start()?;
    let url = tests::fresh_postgres_database().await?;
    let options = api::ServerOptions {
        replica: Some(api::http::ReplicaOptions {
            url: replica.url_for(&url)?,
            // Generous, so a loaded machine's replication delay cannot make
            // a caught-up replica look behind; the bound is still checked.
            max_wait: Duration::from_secs(2),
            max_lag: Duration::from_secs(3),
        }),
        ..Default::default()
    };
    let app = tests::spawn_postgres_app_at(url.clone(), options).await?;
    let account = app.open("r-1", "USD", None).await?;
    let t1 = deposit(&app, account, "100.00", "r-d1").await?;

    // Caught up: a read with the token is served by the replica (once the
    // replica has the new database at all: until then Tally reads from
    // the primary), and never sees less.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (b, from) = balance(&app, account, Some(&t1)).await?;
        ensure!(b == "100.00", "read {b} from the {from} after being told 100.00");
        if from == "replica" {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the replica never served a read with a token it had replayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Replay paused: the replica stays at 100.00.
    // Only now is the database surely on the standby: it has replayed t1,
    // which comes after the database's creation.
    let standby = Database::connect(replica.url_for(&url)?.as_str()).await?;
    standby.execute_unprepared("SELECT pg_wal_replay_pause()").await?;
    let t2 = deposit(&app, account, "50.00", "r-d2").await?;
    let (b, from, stale) = balance_and_token(&app, account, None).await?;
    ensure!(
        (b.as_str(), from.as_str()) == ("100.00", "replica"),
        "without a token (and within the lag bound) a read gets the replica as it is: {b} from the {from}"
    );
    ensure!(
        lsn(&stale)? < lsn(&t2)?,
        "a stale read answers with the replica's position"
    );
    let started = Instant::now();
    let (b, from, t3) = balance_and_token(&app, account, Some(&t2)).await?;
    ensure!(
        (b.as_str(), from.as_str()) == ("150.00", "primary"),
        "with the token, a read of a replica that is behind goes to the primary: {b} from the {from}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(5),
        "the wait for the replica is bounded"
    );
    ensure!(
        lsn(&t3)? >= lsn(&t2)?,
        "a read's token never goes back: {t3} after {t2}"
    );
    // What the primary's read showed, the next read shows too.
    let (b, from) = balance(&app, account, Some(&t3)).await?;
    ensure!(
        (b.as_str(), from.as_str()) == ("150.00", "primary"),
        "{b} from the {from}"
    );
    // Past --replica-max-lag-ms, reads without a token leave the replica too.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (b, from) = balance(&app, account, None).await?;
        if from == "primary" {
            ensure!(b == "150.00", "{b}");
            break;
        }
        ensure!(b == "100.00", "{b}");
        ensure!(
            Instant::now() < deadline,
            "a replica paused for 10 s still serves reads without a token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The token may also travel in the request's extensions.
    let answer = post(
        &app,
        json!({ "query": BALANCE, "variables": { "id": account }, "extensions": { "consistencyToken": t2 } }),
        None,
    )
    .await?;
    ensure!(
        answer.body["data"]["account"]["balance"] == json!("150.00"),
        "{}",
        answer.body
    );
    ensure!(answer.read_from.as_deref() == Some("primary"));
    // An older token is already replayed: the replica serves it.
    let (b, from) = balance(&app, account, Some(&t1)).await?;
    ensure!(
        (b.as_str(), from.as_str()) == ("100.00", "replica"),
        "{b} from the {from}"
    );

    // Malformed tokens: INVALID_INPUT, and a mutation carrying one writes nothing.
    let before = app.snapshot().await?;
    let write =
        "mutation($a: UUID!) { deposit(input: { accountId: $a, amount: \"1.00\", idempotencyKey: \"r-bad\" }) { id } }";
    for bad in ["nonsense", "1/123456789", "+1/0", ""] {
        for (query, variables) in [(BALANCE, json!({ "id": account })), (write, json!({ "a": account }))] {
            let answer = post(&app, json!({ "query": query, "variables": variables }), Some(bad)).await?;
            ensure!(
                answer.status == 400 && code_of(&answer.body)? == "INVALID_INPUT",
                "{bad:?}: {}",
                answer.body
            );
        }
    }
    let answer = post(
        &app,
        json!({ "query": BALANCE, "variables": { "id": account }, "extensions": { "consistencyToken": 7 } }),
        None,
    )
    .await?;
    ensure!(code_of(&answer.body)? == "INVALID_INPUT", "{}", answer.body);
    ensure!(app.snapshot().await? == before, "a refused request wrote something");

    // Replay resumed: the replica catches up and serves the newer token.
    standby.execute_unprepared("SELECT pg_wal_replay_resume()").await?;
    let (b, from) = balance(&app, account, Some(&t2)).await?;
    ensure!(
        (b.as_str(), from.as_str()) == ("150.00", "replica"),
        "{b} from the {from}"
    );

    // Writes and reads race with replication: each read with the token of
    // the write before it sees that write (some from the replica, some
    // from the primary; never older).
    let mut expected = rust_decimal::Decimal::new(15000, 2);
    let mut from_replica = 0;
    for i in 0..60 {
        let token = deposit(&app, account, "0.01", &format!("r-race-{i}")).await?;
        expected += rust_decimal::Decimal::new(1, 2);
        let (b, from) = balance(&app, account, Some(&token)).await?;
        ensure!(
            b == expected.to_string(),
            "read {b} from the {from} after being told {expected}"
        );
        from_replica += usize::from(from == "replica");
    }
    ensure!(
        from_replica > 0,
        "no read with a fresh token reached the replica in 60 tries"
    );
    // Concurrent clients, each reading after its own write.
    let accounts: Vec<Uuid> = {
        let mut v = Vec::new();
        for i in 0..8 {
            v.push(app.open(&format!("r-c{i}"), "USD", None).await?);
        }
        v
    };
    let tasks: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(c, &account)| {
            let app = &app;
            async move {
                for i in 1..=15u32 {
                    let token = deposit(app, account, "1.00", &format!("r-c{c}-{i}")).await?;
                    let (b, from) = balance(app, account, Some(&token)).await?;
                    if b != format!("{i}.00") {
                        bail!("client {c} read {b} from the {from} after its write #{i}");
                    }
                }
                anyhow::Ok(())
            }
        })
        .collect();
    for result in futures::future::join_all(tasks).await {
        result?;
    }

    // The replica dies: reads go to the primary (after the probe notices)
    // and stay right.
    drop(standby);
    replica.stop()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match balance(&app, account, None).await {
            Ok((b, from)) if from == "primary" => {
                ensure!(b == expected.to_string(), "{b}");
                break;
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => bail!(
                "reads did not move to the primary: {:?}",
                other.map(|(b, f)| format!("{b} {f}"))
            ),
        }
    }
    for _ in 0..5 {
        let (b, from) = balance(&app, account, Some(&t2)).await?;
        ensure!((b.as_str(), from.as_str()) == (expected.to_string().as_str(), "primary"));
    }
    app.assert_invariants().await?;
    Ok(())
}

/// Without a replica a write answers with no token and a read names no
/// server; a malformed token is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_replica_nothing_changes() -> Result<()> {
    let app = tests::spawn_app(tests::Backend::Postgres).await?;
    let account = app.open("n-1", "USD", None).await?;
    let query =
        "mutation($a: UUID!) { deposit(input: { accountId: $a, amount: \"1.00\", idempotencyKey: \"n-1\" }) { id } }";
    let answer = post(&app, json!({ "query": query, "variables": { "a": account } }), None).await?;
    ensure!(answer.body["data"]["deposit"]["id"].is_string(), "{}", answer.body);
    ensure!(answer.token.is_none() && answer.body["extensions"].get("consistencyToken").is_none());
    let answer = post(
        &app,
        json!({ "query": BALANCE, "variables": { "id": account } }),
        Some("0/1"),
    )
    .await?;
    ensure!(answer.body["data"]["account"]["balance"] == json!("1.00") && answer.read_from.is_none());
    let answer = post(
        &app,
        json!({ "query": BALANCE, "variables": { "id": account } }),
        Some("x"),
    )
    .await?;
    ensure!(code_of(&answer.body)? == "INVALID_INPUT", "{}", answer.body);
    Ok(())
}

/// SQLite has no replicas: the server refuses to start with one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_refuses_a_replica() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("tally.db").display());
    let ledger = service::Ledger::open(&url, true).await?;
    let signer = service::seal::digest::Signer::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = api::ServerOptions {
        replica: Some(api::http::ReplicaOptions {
            url: "postgres://postgres@127.0.0.1:1/x".into(),
            max_wait: Duration::from_millis(10),
            max_lag: Duration::from_secs(1),
        }),
        ..Default::default()
    };
    match api::app(ledger, signer, options).await {
        Ok(_) => bail!("a SQLite ledger accepted a replica"),
        Err(e) => ensure!(e.code() == service::ErrorCode::InvalidInput, "{e}"),
    }
    Ok(())
}
