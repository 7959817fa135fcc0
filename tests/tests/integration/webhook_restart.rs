//! An instance killed mid-delivery: its claim lapses and another instance
//! delivers the event again, with the same event id; the account's later
//! events wait behind it, so the receiver still hears them in order.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::json;
use tests::Backend;
use tests::process::{Server, free_port, serve_args};
use tests::receiver::{Receiver, Reply};

tests::each_backend!(a_delivery_cut_off_by_a_kill_is_made_by_the_next_instance);

async fn a_delivery_cut_off_by_a_kill_is_made_by_the_next_instance(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("tally.db").display()),
        Backend::Postgres => tests::fresh_postgres_database().await?,
    };
    // Claims last three timeouts: 3 s.
    let extra = [
        "--webhook-timeout-ms",
        "1000",
        "--webhook-poll-ms",
        "50",
        "--webhook-backoff-ms",
        "50",
    ];
    let start = |log: &str| -> Result<(Server, String)> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let base = format!("http://{listen}");
        let server = Server::start(
            &serve_args(&listen, &url, &dir, &extra),
            &[],
            dir.path().join(log),
            &base,
        )?;
        Ok((server, base))
    };
    let client = reqwest::Client::new();
    let (mut first, base) = start("first.log")?;
    first.wait_ready(&client).await?;
    let rx = Receiver::start().await?;
    // The first try of the first event never gets its answer out: the sender dies first.
    rx.behave(|r, before| match (r.kind.as_str(), before) {
        ("account.created", 0) => Reply {
            status: 599,
            delay: Duration::from_secs(4),
        },
        _ => Reply::OK,
    });
    let gql = bench::gql::Tally::new(&base);
    gql.data(
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { id } }",
        json!({ "i": { "url": rx.url } }),
    )
    .await?;
    let a = gql.open("a", "USD").await?;
    tokio::time::sleep(Duration::from_millis(800)).await; // the delivery is in flight
    first.child.kill()?;
    first.child.wait()?;

    let (mut second, base) = start("second.log")?;
    second.wait_ready(&client).await?;
    let gql = bench::gql::Tally::new(&base);
    gql.data(
        tests::DEPOSIT,
        json!({ "i": { "accountId": a, "amount": "5.00", "idempotencyKey": "d" } }),
    )
    .await?;
    let got = rx
        .wait_for("both events, from the second instance", Duration::from_secs(30), |r| {
            r.iter().filter(|x| x.kind == "transfer.posted").count() == 1
                && r.iter().any(|x| x.kind == "account.created")
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\nreceived: {:?}\nsecond log:\n{}",
                rx.received()
                    .iter()
                    .map(|r| (&r.kind, r.attempt, r.status))
                    .collect::<Vec<_>>(),
                second.log_text()
            )
        })?;
    let order: Vec<&str> = got.iter().map(|r| r.kind.as_str()).collect();
    ensure!(order == ["account.created", "transfer.posted"], "{order:?}");
    // The only event heard twice is the one cut off, under one id.
    tokio::time::sleep(Duration::from_secs(5)).await; // the cut-off request's own end
    let all = rx.received();
    let created: Vec<_> = all.iter().filter(|r| r.kind == "account.created").collect();
    ensure!(created.len() == 2, "{} tries of account.created", created.len());
    ensure!(
        created[0].event_id == created[1].event_id,
        "a second event, not a second try"
    );
    ensure!(
        created[1].attempt == 2,
        "the retry says it is attempt {}",
        created[1].attempt
    );
    ensure!(all.iter().filter(|r| r.kind == "transfer.posted").count() == 1);
    second.terminate()?;
    Ok(())
}
