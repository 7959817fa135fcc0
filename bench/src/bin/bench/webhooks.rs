//! The webhook worker's cost: uncontended transfers at 32 clients with no
//! endpoint, then with one endpoint taking every `transfer.posted` (a
//! receiver in this process answering 204) one event per POST, then with
//! one taking them in batches of up to 100 per POST, three times each
//! (the second time in reverse order), on the same server. CPU per transfer counts the server's whole process —
//! engine, outbox writes and the worker's deliveries — from the start of
//! the load until every delivery of the run is made.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bench::ceiling;
use bench::cost::Meter;
use bench::gql::Tally;
use bench::report::Report;
use bench::scenarios::{self, Accounts, Run, Scenario};
use bench::server::Server;
use serde_json::json;

use super::run_id;

pub(super) async fn webhook_ab(
    srv: &Server,
    tally: &Tally,
    url: &str,
    meter: &Meter,
    accounts: &Accounts,
    run: &Run,
    report: &mut Report,
) -> Result<()> {
    let receiver = receiver().await?;
    // Per setting (none, one event per POST, batches of 100): server CPU
    // µs per transfer, transfers/s, seconds to drain.
    let mut runs: [Setting; 3] = Default::default();
    let settings = [None, Some(1), Some(100)];
    // Three rounds, the middle one in reverse (none, one, batched; batched,
    // one, none; …): the ledger grows and vacuum catches up as the run goes
    // on, and a fixed order would charge that to whichever setting always
    // came last. (Run to run, one setting's figure moves by up to a tenth
    // on this machine: each mean is over three runs.)
    for order in [[0, 1, 2], [2, 1, 0], [0, 1, 2]] {
        for setting in order {
            let batch = settings[setting];
            let endpoint = match batch {
                None => None,
                Some(batch) => {
                    let d = tally
                        .data(
                            "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { id } }",
                            json!({ "i": { "url": receiver, "eventTypes": ["TRANSFER_POSTED"], "maxBatchSize": batch } }),
                        )
                        .await?;
                    Some(d["createWebhookEndpoint"]["id"].as_str().unwrap_or_default().to_owned())
                }
            };
            let before = meter.read(Some(srv.pid()))?;
            let s = scenarios::run(tally, accounts, Scenario::Uncontended, 32, run, &run_id()).await;
            let drain = drained(url).await;
            let cost = meter.cost(&before, &meter.read(Some(srv.pid()))?, s.all_transfers as f64)?;
            runs[setting].cpu.push(cost.server_us);
            runs[setting].rate.push(s.transfers_per_sec());
            // Deleted before a failed drain is reported, so the rest of
            // the run does not pay for an endpoint.
            if let Some(id) = endpoint {
                tally
                    .data(
                        "mutation($id: UUID!) { deleteWebhookEndpoint(id: $id) }",
                        json!({ "id": id }),
                    )
                    .await?;
            }
            runs[setting].drain.push(drain?.as_secs_f64());
        }
    }
    let [off, single, batched] = &runs;
    for (on, what) in [
        (batched, "in batches of up to 100 per POST (maxBatchSize 100)"),
        (single, "one event per POST (maxBatchSize 1, the default)"),
    ] {
        report.figures.push((
            format!("webhooks, 32 clients uncontended: server CPU µs per transfer with an endpoint taking every transfer.posted {what} ÷ without (target ≤ 1.10)"),
            format!(
                "{:.2} (each round: {}; {:.0} vs {:.0} µs; throughput {:.0} vs {:.0} transfers/s; the last delivery made {} s after the load ended)",
                mean(&on.cpu) / mean(&off.cpu).max(1e-9),
                on.cpu
                    .iter()
                    .zip(&off.cpu)
                    .map(|(on, off)| format!("{:.2}", on / off.max(1e-9)))
                    .collect::<Vec<_>>()
                    .join(", "),
                mean(&on.cpu),
                mean(&off.cpu),
                mean(&on.rate),
                mean(&off.rate),
                on.drain.iter().map(|d| format!("{d:.1}")).collect::<Vec<_>>().join(", "),
            ),
        ));
    }
    Ok(())
}

/// One setting's measurements, a value per round.
#[derive(Default)]
struct Setting {
    cpu: Vec<f64>,
    rate: Vec<f64>,
    drain: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Waits until no delivery is pending (at most two minutes); how long that took.
async fn drained(url: &str) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let pending = ceiling::psql_value(url, "SELECT count(*) FROM webhook_delivery WHERE status = 'PENDING'")?;
        if pending.trim() == "0" {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{pending} webhook deliveries still pending after two minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A receiver answering 204 to every POST once it has read the body (as a
/// receiver checking signatures must; answering before reading a large
/// body makes the connection close under the sender); its URL.
async fn receiver() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body.len());
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
