//! `cargo run --release -p bench -- [--pg-url ADMIN_URL] [--url TALLY_URL] …`
//!
//! Starts `tally serve` on a fresh PostgreSQL database (and on SQLite),
//! prepares accounts, drives each scenario with N keep-alive clients after a
//! warm-up, runs the raw-SQL ceiling scripts with pgbench at the same
//! concurrency against the same server, and writes a table (stdout), a JSON
//! file, BENCHMARKS.md and an SVG plot. `bash scripts/bench.sh` provides a
//! throwaway PostgreSQL server and runs this.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bench::ceiling::{self, Ceiling};
use bench::gql::Tally;
use bench::plot::{self, Panel, Series};
use bench::report::{Report, Row};
use bench::scenarios::{self, Accounts, Run, Scenario};
use bench::server::{self, Server};
use clap::Parser;

/// Where the harness's `tally serve` listens: on PostgreSQL (every restart of
/// the sealing A/B reuses it) and on SQLite.
const PG_PORT: u16 = 18_000;
const SQLITE_PORT: u16 = 18_001;

#[derive(Parser, Debug)]
#[command(about = "Tally benchmark harness")]
struct Args {
    /// Admin URL of the PostgreSQL server to benchmark on (databases are created there).
    #[arg(long, env = "TALLY_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Benchmark an already running Tally instead of starting one (no ceiling, no SQLite).
    #[arg(long)]
    url: Option<String>,
    /// With `--url`: the API key to send (a server with keys needs an admin key
    /// to prepare accounts).
    #[arg(long, env = "TALLY_API_KEY")]
    api_key: Option<String>,
    /// With `--url`: the scenario to drive at each client count.
    #[arg(long, value_enum, default_value = "uncontended")]
    scenario: Scenario,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds per scenario.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Client counts for the concurrency sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    clients: Vec<usize>,
    /// Accounts to prepare.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Entries the ledger grows to for the "cost does not grow" check (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    big_ledger: usize,
    /// Skip the SQLite runs.
    #[arg(long)]
    no_sqlite: bool,
    /// Only grow a PostgreSQL ledger to `--big-ledger` entries and time `tally verify` on it.
    #[arg(long)]
    verify_only: bool,
    #[arg(long, default_value = "../shared/bench/ceiling")]
    ceiling_dir: PathBuf,
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    markdown: PathBuf,
    #[arg(long, default_value = "docs/bench.svg")]
    plot: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let run = Run {
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
    };
    let mut report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        ..Report::default()
    };
    report.conditions = conditions(&args);
    if let Some(url) = &args.url {
        let tally = Tally::new(url).with_bearer(args.api_key.clone());
        let accounts = scenarios::prepare(&tally, args.accounts, &run_id()).await?;
        for &c in &args.clients {
            let s = scenarios::run(&tally, &accounts, args.scenario, c, &run, &run_id()).await;
            report
                .rows
                .push(Row::new("external", args.scenario.name(), c, &s, false));
        }
    } else {
        if let Some(pg) = &args.pg_url {
            postgres(&args, pg, &run, &mut report).await?;
        }
        if !args.no_sqlite {
            sqlite(&args, &run, &mut report).await?;
        }
    }
    println!("{}", report.table());
    for (k, v) in &report.figures {
        println!("{k}: {v}");
    }
    report.write_json(&args.json)?;
    let command = "bash scripts/bench.sh";
    std::fs::write(
        &args.markdown,
        report.markdown(&args.plot.display().to_string(), command),
    )?;
    eprintln!(
        "wrote {}, {} and {}",
        args.json.display(),
        args.markdown.display(),
        args.plot.display()
    );
    Ok(())
}

fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

async fn postgres(args: &Args, admin: &str, run: &Run, report: &mut Report) -> Result<()> {
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
    let ceiling = Ceiling {
        dir: args.ceiling_dir.clone(),
        url: ceiling_url,
        accounts: args.accounts,
    };
    ceiling.prepare()?;
    let secs = run.duration.as_secs();
    let mut sweep = Vec::new();
    for &c in &args.clients {
        let rss = sample_rss(srv.pid());
        let s = scenarios::run(&tally, &accounts, Scenario::Uncontended, c, run, &run_id()).await;
        let peak = rss.stop();
        let multi = ceiling.run("transfer.sql", c, false, 0, secs)?;
        let single = ceiling.run("transfer_fn.sql", c, false, 0, secs)?;
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

/// Sealing's cost to writers: uncontended transfers at 32 clients with this
/// instance's sealer off and on, alternating, twice each, on the same
/// database; and, while it was on, how long after their commit transfers
/// were sealed. Returns a server (sealing on) for the scenarios after it.
async fn sealing_ab(
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
async fn auth_ab(
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
async fn wait_sealed(url: &str) -> Result<()> {
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

async fn sqlite(args: &Args, run: &Run, report: &mut Report) -> Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite:{}", dir.join("bench.db").display());
    let key = server::create_key(&server::tally_binary()?, &url)?;
    let mut combined = 0.0;
    for combining in [true, false] {
        let srv = Server::start(&server::tally_binary()?, &url, SQLITE_PORT, combining, &dir).await?;
        let tally = Tally::new(&srv.base).with_bearer(Some(key.clone()));
        let accounts = match combining {
            true => {
                eprintln!("preparing {} accounts on SQLite…", args.accounts);
                scenarios::prepare(&tally, args.accounts, "lite").await?
            }
            false => reopen(&tally, args.accounts).await?,
        };
        let s = scenarios::run(&tally, &accounts, Scenario::Uncontended, 32, run, &run_id()).await;
        let label = if combining {
            "sqlite"
        } else {
            "sqlite (one transaction per request)"
        };
        report
            .rows
            .push(Row::new(label, Scenario::Uncontended.name(), 32, &s, false));
        if combining {
            combined = s.transfers_per_sec();
            for scenario in [Scenario::Hot, Scenario::Deposits] {
                let s = scenarios::run(&tally, &accounts, scenario, 32, run, &run_id()).await;
                report.rows.push(Row::new("sqlite", scenario.name(), 32, &s, false));
            }
        } else {
            report.figures.push((
                "SQLite: write combining ÷ one transaction per request, 32 clients (target ≥ 2×; and ≥ 1,000/s)".into(),
                format!(
                    "{:.2}× ({combined:.0}/s vs {:.0}/s)",
                    combined / s.transfers_per_sec().max(1e-9),
                    s.transfers_per_sec()
                ),
            ));
        }
        srv.stop();
    }
    Ok(())
}

/// The accounts prepared by the first SQLite server, found again by code.
async fn reopen(tally: &Tally, n: usize) -> Result<Accounts> {
    let id = |code: String| {
        let tally = tally.clone();
        async move {
            let data = tally
                .data(
                    "query($c: String!) { accountByCode(code: $c) { id } }",
                    serde_json::json!({ "c": code }),
                )
                .await?;
            let text = data["accountByCode"]["id"]
                .as_str()
                .context("missing account")?
                .to_owned();
            Ok::<_, anyhow::Error>(uuid::Uuid::parse_str(&text)?)
        }
    };
    let bank = id("lite-bank".into()).await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(id(format!("lite-{i}")).await?);
    }
    Ok(Accounts {
        bank,
        ids: Arc::new(ids),
    })
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

fn conditions(args: &Args) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0) / 1024.0 / 1024.0)
        })
        .unwrap_or(0.0);
    let mut c = vec![
        (
            "machine".into(),
            format!("{cores} cores ({cpu}), {mem:.0} GiB RAM; load generator, server and database share it"),
        ),
        (
            "run".into(),
            format!(
                "{} s warm-up + {} s measured per figure; clients {:?}",
                args.warmup, args.duration, args.clients
            ),
        ),
        (
            "prepared".into(),
            format!("{} funded USD accounts; amounts 0.01", args.accounts),
        ),
        ("SQLite".into(), "WAL, synchronous=FULL (durable commits)".into()),
        ("tally".into(), format!("{} (release build)", env!("CARGO_PKG_VERSION"))),
    ];
    if let Some(pg) = &args.pg_url {
        let v = |sql: &str| ceiling::psql_value(pg, sql).unwrap_or_else(|_| "?".into());
        c.push((
            "PostgreSQL".into(),
            format!(
                "{}; synchronous_commit={}, fsync={}, shared_buffers={}",
                v("SHOW server_version"),
                v("SHOW synchronous_commit"),
                v("SHOW fsync"),
                v("SHOW shared_buffers")
            ),
        ));
    }
    c
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tally-bench-{}", run_id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
