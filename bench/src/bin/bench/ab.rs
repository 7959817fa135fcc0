//! A/B measurements on one PostgreSQL ledger: this instance's sealer on and
//! off, and an API key on every request against a ledger without keys.

use std::time::{Duration, Instant};

use anyhow::Result;
use bench::ceiling;
use bench::gql::Tally;
use bench::report::Report;
use bench::scenarios::{self, Accounts, Run, Scenario};
use bench::server::{self, Server};

use super::{Args, PG_PORT, run_id, tempdir};

/// Sealing's cost to writers: uncontended transfers at 32 clients with this
/// instance's sealer off and on, alternating, twice each, on the same
/// database; and, while it was on, how long after their commit transfers
/// were sealed. Returns a server (sealing on) for the scenarios after it.
pub(super) async fn sealing_ab(
    srv: Server,
    url: &str,
    data: &std::path::Path,
    accounts: &Accounts,
    key: &str,
    run: &Run,
    report: &mut Report,
) -> Result<Server> {
    let binary = server::tally_binary()?;
    srv.stop();
    let (mut off, mut on, mut lags) = (Vec::new(), Vec::new(), Vec::new());
    for _round in 0..2 {
        for interval in ["0", "250"] {
            let srv = Server::start_with(&binary, url, PG_PORT, true, data, &["--seal-interval-ms", interval]).await?;
            let sealing = interval != "0";
            if sealing {
                wait_sealed(url).await?; // the backlog the run without a sealer left
            }
            let since = ceiling::psql_value(url, "SELECT now()")?;
            let tally = Tally::new(&srv.base).with_bearer(Some(key.to_owned()));
            let s = scenarios::run(&tally, accounts, Scenario::Uncontended, 32, run, &run_id()).await;
            if sealing {
                on.push(s.transfers_per_sec());
                wait_sealed(url).await?;
                lags.push(ceiling::psql_value(url, &seal_lag_sql(&since))?);
            } else {
                off.push(s.transfers_per_sec());
            }
            srv.stop();
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    report.figures.push((
        "uncontended, 32 clients: with this instance sealing ÷ without (target: no measurable loss)".into(),
        format!(
            "{:.2} ({:.0} vs {:.0} transfers/s; runs with: {:?}, without: {:?})",
            mean(&on) / mean(&off).max(1e-9),
            mean(&on),
            mean(&off),
            on.iter().map(|r| r.round()).collect::<Vec<_>>(),
            off.iter().map(|r| r.round()).collect::<Vec<_>>()
        ),
    ));
    report.figures.push((
        "seal lag under that load (block sealedAt − transfer createdAt), p50 / p99 / max per run".into(),
        lags.join("; "),
    ));
    Server::start(&binary, url, PG_PORT, true, data).await
}

/// Authentication's cost: uncontended transfers at 32 clients with an API
/// key on every request (the ledger every other figure uses) against a
/// ledger that has no key (the open loopback default), alternating, twice
/// each. Keys are never deleted, so the open side is a second database with
/// the same number of accounts. Returns a server on the keyed ledger.
pub(super) async fn auth_ab(
    srv: Server,
    keyed_url: &str,
    key: &str,
    accounts: &Accounts,
    args: &Args,
    run: &Run,
    report: &mut Report,
) -> Result<Server> {
    let binary = server::tally_binary()?;
    srv.stop();
    let open_db = format!("tally_bench_open_{}", run_id());
    let prefix = keyed_url.rsplit_once('/').map_or(keyed_url, |(p, _)| p);
    ceiling::psql_value(keyed_url, &format!("CREATE DATABASE {open_db}"))?;
    let open_url = format!("{prefix}/{open_db}");
    let data = tempdir()?;
    let srv = Server::start(&binary, &open_url, PG_PORT, true, &data).await?;
    eprintln!("preparing {} accounts on a ledger without keys…", args.accounts);
    let open_accounts = scenarios::prepare(&Tally::new(&srv.base), args.accounts, "open").await?;
    srv.stop();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _round in 0..2 {
        for keyed in [true, false] {
            let url = if keyed { keyed_url } else { open_url.as_str() };
            let srv = Server::start(&binary, url, PG_PORT, true, &data).await?;
            let (tally, acc) = match keyed {
                true => (Tally::new(&srv.base).with_bearer(Some(key.to_owned())), accounts),
                false => (Tally::new(&srv.base), &open_accounts),
            };
            let s = scenarios::run(&tally, acc, Scenario::Uncontended, 32, run, &run_id()).await;
            anyhow::ensure!(s.errors == 0, "auth A/B run had errors: {s:?}");
            match keyed {
                true => with.push(s.transfers_per_sec()),
                false => without.push(s.transfers_per_sec()),
            }
            srv.stop();
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    report.figures.push((
        "uncontended, 32 clients: with an API key on every request ÷ without authentication".into(),
        format!(
            "{:.2} ({:.0} vs {:.0} transfers/s; runs with: {:?}, without: {:?})",
            mean(&with) / mean(&without).max(1e-9),
            mean(&with),
            mean(&without),
            with.iter().map(|r| r.round()).collect::<Vec<_>>(),
            without.iter().map(|r| r.round()).collect::<Vec<_>>()
        ),
    ));
    Server::start(&binary, keyed_url, PG_PORT, true, &data).await
}

/// Waits until the sealer's queue is empty.
pub(super) async fn wait_sealed(url: &str) -> Result<()> {
    let started = Instant::now();
    while ceiling::psql_value(url, "SELECT count(*) FROM unsealed")? != "0" {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "the sealer did not drain its queue within 900 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

fn seal_lag_sql(since: &str) -> String {
    format!(
        "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) * 1000) || ' ms / ' \
         || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) * 1000) || ' ms / ' \
         || round(max(lag) * 1000) || ' ms' \
         FROM (SELECT extract(epoch FROM b.sealed_at - t.created_at)::float8 AS lag \
         FROM journal j JOIN block b ON b.height = j.height JOIN transfer t ON t.id = j.transfer_id \
         WHERE t.created_at >= '{since}') x"
    )
}
