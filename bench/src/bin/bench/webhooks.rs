//! The webhook worker's cost: uncontended transfers at 32 clients with no
//! endpoint, then with one endpoint taking every `transfer.posted` (a
//! receiver in this process answering 204), alternating, twice each, on
//! the same server. CPU per transfer counts the server's whole process —
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
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let (mut rate_off, mut rate_on) = (Vec::new(), Vec::new());
    let mut drains = Vec::new();
    for _round in 0..2 {
        for with_endpoint in [false, true] {
            let endpoint = match with_endpoint {
                false => None,
                true => {
                    let d = tally
                        .data(
                            "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { id } }",
                            json!({ "i": { "url": receiver, "eventTypes": ["TRANSFER_POSTED"] } }),
                        )
                        .await?;
                    Some(d["createWebhookEndpoint"]["id"].as_str().unwrap_or_default().to_owned())
                }
            };
            let before = meter.read(Some(srv.pid()))?;
            let s = scenarios::run(tally, accounts, Scenario::Uncontended, 32, run, &run_id()).await;
            let drain = drained(url).await;
            let cost = meter.cost(&before, &meter.read(Some(srv.pid()))?, s.all_transfers as f64)?;
            match with_endpoint {
                true => {
                    on.push(cost.server_us);
                    rate_on.push(s.transfers_per_sec());
                }
                false => {
                    off.push(cost.server_us);
                    rate_off.push(s.transfers_per_sec());
                }
            }
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
            let drain = drain?;
            if with_endpoint {
                drains.push(drain.as_secs_f64());
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    report.figures.push((
        "webhooks, 32 clients uncontended: server CPU µs per transfer with an endpoint taking every transfer.posted ÷ without (target ≤ 1.10)".into(),
        format!(
            "{:.2} ({:.0} vs {:.0} µs; throughput {:.0} vs {:.0} transfers/s; the last delivery made {} s after the load ended)",
            mean(&on) / mean(&off).max(1e-9),
            mean(&on),
            mean(&off),
            mean(&rate_on),
            mean(&rate_off),
            drains.iter().map(|d| format!("{d:.1}")).collect::<Vec<_>>().join(" and "),
        ),
    ));
    Ok(())
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

/// A receiver answering 204 to every POST; its URL.
async fn receiver() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
