//! The PostgreSQL runs: the concurrency sweep against both ceilings, hot
//! account, deposits, batches, the A/Bs, reads, the big ledger and `tally
//! verify`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use bench::ceiling::{self, Ceiling};
use bench::cost::{Cost, Meter};
use bench::gql::Tally;
use bench::plot::{self, Panel, Series};
use bench::report::{Report, Row};
use bench::scenarios::{self, Accounts, Run, Scenario};
use bench::server::{self, Server};

use super::ab::{auth_ab, sealing_ab, wait_sealed};
use super::{Args, PG_PORT, run_id, tempdir};

pub(super) async fn postgres(args: &Args, admin: &str, run: &Run, report: &mut Report) -> Result<()> {
    let id = run_id();
    let (tally_db, ceiling_db) = (format!("tally_bench_{id}"), format!("ceiling_{id}"));
    for db in [&tally_db, &ceiling_db] {
        ceiling::psql_value(admin, &format!("CREATE DATABASE {db}"))?;
    }
    let prefix = admin.rsplit_once('/').map_or(admin, |(p, _)| p);
    let (tally_url, ceiling_url) = (format!("{prefix}/{tally_db}"), format!("{prefix}/{ceiling_db}"));
    let data = tempdir()?;
    // Every figure is taken with authentication on: one admin API key.
    let key = server::create_key(&server::tally_binary()?, &tally_url)?;
    let srv = Server::start(&server::tally_binary()?, &tally_url, PG_PORT, true, &data).await?;
    let tally = Tally::new(&srv.base).with_bearer(Some(key.clone()));
    eprintln!("preparing {} accounts on PostgreSQL…", args.accounts);
    let accounts = scenarios::prepare(&tally, args.accounts, "pg").await?;
    if args.verify_only {
        eprintln!("growing the ledger to {} entries…", args.big_ledger);
        scenarios::grow_ledger(&tally, &accounts, args.big_ledger, &run_id()).await?;
        srv.stop();
        verify_figures(&tally_url, report)?;
        return Ok(());
    }
    if args.webhooks_only {
        let meter = Meter::new(admin)?;
        super::webhooks::webhook_ab(&srv, &tally, &tally_url, &meter, &accounts, run, report).await?;
        srv.stop();
        return Ok(());
    }
    let ceiling = Ceiling {
        dir: args.ceiling_dir.clone(),
        url: ceiling_url,
        accounts: args.accounts,
    };
    ceiling.prepare()?;
    let secs = run.duration.as_secs();
    let meter = Meter::new(admin)?;
    let mut sweep = Vec::new();
    for &c in &args.clients {
        let rss = sample_rss(srv.pid());
        let before = meter.read(Some(srv.pid()))?;
        let s = scenarios::run(&tally, &accounts, Scenario::Uncontended, c, run, &run_id()).await;
        let tally_cost = meter.cost(&before, &meter.read(Some(srv.pid()))?, s.all_transfers as f64)?;
        let peak = rss.stop();
        let before = meter.read(None)?;
        let multi = ceiling.run("transfer.sql", c, false, 0, secs)?;
        let multi_cost = meter.cost(&before, &meter.read(None)?, multi * secs as f64)?;
        let before = meter.read(None)?;
        let single = ceiling.run("transfer_fn.sql", c, false, 0, secs)?;
        let single_cost = meter.cost(&before, &meter.read(None)?, single * secs as f64)?;
        if c == 32 {
            report_costs(report, &tally_cost, &multi_cost, &single_cost);
        }
        let row = Row::new("postgres", Scenario::Uncontended.name(), c, &s, false);
        report.rows.push(
            row.clone()
                .against("transfer.sql", multi, if c == 32 { "≥ 1.0×" } else { "–" }),
        );
        report.rows.push(
            row.clone()
                .against("transfer_fn.sql", single, if c == 32 { "stretch ≥ 1.0×" } else { "–" }),
        );
        if c == 32 {
            report.figures.push((
                "server RSS peak, 32 clients uncontended (target ≤ 150 MB)".into(),
                format!("{peak:.0} MiB"),
            ));
        }
        sweep.push((c, s.transfers_per_sec(), multi, single, s.percentile_ms(99.0)));
    }
    let c = 32;
    let hot_ceiling = ceiling.run("transfer_fn.sql", c, true, 0, secs)?;
    let s = scenarios::run(&tally, &accounts, Scenario::Hot, c, run, &run_id()).await;
    report
        .rows
        .push(Row::new("postgres", Scenario::Hot.name(), c, &s, false).against(
            "transfer_fn.sql hot=1",
            hot_ceiling,
            "≥ 3×",
        ));
    let s = scenarios::run(&tally, &accounts, Scenario::Deposits, c, run, &run_id()).await;
    report
        .rows
        .push(Row::new("postgres", Scenario::Deposits.name(), c, &s, false).against(
            "transfer_fn.sql hot=1",
            hot_ceiling,
            "≥ 3×",
        ));
    let batch_ceiling = ceiling.run("transfer_batch.sql", 1, false, 100, secs)?;
    let s = scenarios::run(&tally, &accounts, Scenario::Batch100, 1, run, &run_id()).await;
    report
        .rows
        .push(Row::new("postgres", Scenario::Batch100.name(), 1, &s, false).against(
            "transfer_batch.sql (-c 1)",
            batch_ceiling,
            "≥ 0.8×",
        ));
    // A failure here is a figure (the worker fell behind), not a lost run.
    if let Err(e) = super::webhooks::webhook_ab(&srv, &tally, &tally_url, &meter, &accounts, run, report).await {
        report
            .figures
            .push(("webhooks, 32 clients uncontended".into(), format!("not measured: {e}")));
    }
    let srv = sealing_ab(srv, &tally_url, &data, &accounts, &key, run, report).await?;
    let srv = auth_ab(srv, &tally_url, &key, &accounts, args, run, report).await?;
    let tally = Tally::new(&srv.base).with_bearer(Some(key));
    reads(&tally, &accounts, run, report).await?;
    if args.big_ledger > 0 {
        big_ledger(args, &tally, &accounts, &tally_url, run, &sweep, report).await?;
    }
    srv.stop();
    write_plot(&args.plot, &sweep)?;
    Ok(())
}

/// CPU and WAL per committed transfer, Tally beside each ceiling (the
/// issue's goal: PostgreSQL's CPU per transfer within 1.3× of the
/// one-round-trip ceiling's).
fn report_costs(report: &mut Report, tally: &Cost, multi: &Cost, single: &Cost) {
    report.figures.push((
        "CPU µs per committed transfer, 32 clients uncontended: Tally server / PostgreSQL / load generator".into(),
        format!(
            "{:.0} / {:.0} / {:.0} (transfer.sql: – / {:.0} / {:.0}; transfer_fn.sql: – / {:.0} / {:.0}); PostgreSQL ÷ transfer_fn.sql's: {:.2}",
            tally.server_us,
            tally.postgres_us,
            tally.load_us,
            multi.postgres_us,
            multi.load_us,
            single.postgres_us,
            single.load_us,
            tally.postgres_us / single.postgres_us.max(1e-9)
        ),
    ));
    report.figures.push((
        "WAL bytes per committed transfer, 32 clients uncontended: Tally / transfer.sql / transfer_fn.sql".into(),
        format!(
            "{:.0} / {:.0} / {:.0}",
            tally.wal_bytes, multi.wal_bytes, single.wal_bytes
        ),
    ));
}

async fn reads(tally: &Tally, accounts: &Accounts, run: &Run, report: &mut Report) -> Result<()> {
    scenarios::grow_bank_history(tally, accounts, 10_010, &run_id()).await?;
    let mut p50 = Vec::new();
    for scenario in [
        Scenario::EntriesFirstPage,
        Scenario::EntriesPage1000,
        Scenario::BalanceAt,
    ] {
        let s = scenarios::run(tally, accounts, scenario, 32, run, &run_id()).await;
        p50.push(s.percentile_ms(50.0));
        report.rows.push(Row::new("postgres", scenario.name(), 32, &s, true));
    }
    report.figures.push((
        "entries page 1000 p50 latency ÷ page 1 p50 latency (target ≤ 1.5)".into(),
        format!("{:.2}", p50[1] / p50[0].max(1e-9)),
    ));
    Ok(())
}

async fn big_ledger(
    args: &Args,
    tally: &Tally,
    accounts: &Accounts,
    url: &str,
    run: &Run,
    sweep: &[(usize, f64, f64, f64, f64)],
    report: &mut Report,
) -> Result<()> {
    eprintln!("growing the ledger to {} entries…", args.big_ledger);
    let started = Instant::now();
    scenarios::grow_ledger(tally, accounts, args.big_ledger, &run_id()).await?;
    report.figures.push((
        "time to add the big-ledger entries through postTransfers".into(),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    ));
    // The growth outpaces the sealer; measure the ledger at rest, not the
    // sealer catching up with a few hundred thousand queued transfers.
    let drained = Instant::now();
    wait_sealed(url).await?;
    report.figures.push((
        "then the sealer's backlog drained in".into(),
        format!("{:.0} s", drained.elapsed().as_secs_f64()),
    ));
    let s = scenarios::run(tally, accounts, Scenario::Uncontended, 32, run, &run_id()).await;
    let empty = sweep.iter().find(|r| r.0 == 32).map_or(0.0, |r| r.1);
    report.rows.push(Row::new(
        "postgres (≥1M entries)",
        Scenario::Uncontended.name(),
        32,
        &s,
        false,
    ));
    report.figures.push((
        "uncontended throughput with ≥1M entries ÷ on the fresh ledger (target ≥ 0.9)".into(),
        format!("{:.2}", s.transfers_per_sec() / empty.max(1e-9)),
    ));
    verify_figures(url, report)
}

/// `tally verify` right after the load (autovacuum and first-read hint-bit
/// writes still under way), then once more after `VACUUM ANALYZE` (the
/// steady state of a ledger that has been live a while).
fn verify_figures(url: &str, report: &mut Report) -> Result<()> {
    report.figures.push((
        "tally verify right after the load (target ≥ 200,000 entries/s)".into(),
        time_verify(url)?,
    ));
    ceiling::psql_value(url, "VACUUM ANALYZE")?;
    report.figures.push((
        "tally verify after VACUUM ANALYZE (target ≥ 200,000 entries/s)".into(),
        time_verify(url)?,
    ));
    Ok(())
}

/// Runs `tally verify` on `url` and returns its summary line.
fn time_verify(url: &str) -> Result<String> {
    let verify = std::process::Command::new(server::tally_binary()?)
        .args(["verify", "--database-url", url])
        .output()?;
    let text = String::from_utf8_lossy(&verify.stdout);
    Ok(text
        .lines()
        .find(|l| l.starts_with("checked"))
        .unwrap_or("verify printed no summary")
        .to_owned())
}

struct RssSampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn stop(self) -> f64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

fn sample_rss(pid: u32) -> RssSampler {
    let peak = Arc::new(AtomicU64::new(0));
    let p = peak.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Some(mib) = server::rss_mib(pid) {
                p.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    RssSampler { peak, task }
}

fn write_plot(path: &std::path::Path, sweep: &[(usize, f64, f64, f64, f64)]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let xs: Vec<usize> = sweep.iter().map(|r| r.0).collect();
    let series = |label: &str, color: (u8, u8, u8), f: fn(&(usize, f64, f64, f64, f64)) -> f64| Series {
        label: label.to_owned(),
        color,
        values: sweep.iter().map(f).collect(),
    };
    let panels = [
        Panel {
            title: "Uncontended transfers on PostgreSQL".into(),
            y_label: "transfers per second".into(),
            series: vec![
                series("Tally (GraphQL over HTTP)", (200, 40, 40), |r| r.1),
                series("ceiling: transfer.sql (raw SQL, 5 statements)", (40, 90, 200), |r| r.2),
                series("ceiling: transfer_fn.sql (raw SQL, 1 round trip)", (40, 160, 60), |r| {
                    r.3
                }),
            ],
        },
        Panel {
            title: "Tally's p99 latency, same runs".into(),
            y_label: "p99 latency (ms)".into(),
            series: vec![series("Tally p99", (200, 40, 40), |r| r.4)],
        },
    ];
    plot::write(path, &xs, &panels)
}
