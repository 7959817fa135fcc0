//! `cargo run --release -p bench -- [--pg-url ADMIN_URL] [--url TALLY_URL] …`
//!
//! Starts `tally serve` on a fresh PostgreSQL database (and on SQLite),
//! prepares accounts, drives each scenario with N keep-alive clients after a
//! warm-up, runs the raw-SQL ceiling scripts with pgbench at the same
//! concurrency against the same server, and writes a table (stdout), a JSON
//! file, BENCHMARKS.md and an SVG plot. `bash scripts/bench.sh` provides a
//! throwaway PostgreSQL server and runs this.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use bench::ceiling;
use bench::gql::Tally;
use bench::report::{Report, Row};
use bench::scenarios::{self, Run, Scenario};
use clap::Parser;

mod ab;
mod postgres;
mod sqlite;
mod webhooks;

/// Where the harness's `tally serve` listens: on PostgreSQL (every restart of
/// the sealing A/B reuses it) and on SQLite.
const PG_PORT: u16 = 18_000;
const SQLITE_PORT: u16 = 18_001;

#[derive(Parser, Debug)]
#[command(about = "Tally benchmark harness")]
pub(crate) struct Args {
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
    /// With `--url`: only prepare `--accounts` funded accounts and write
    /// their ids to this file, one per line (for an outside load generator:
    /// `scripts/wrk.sh`).
    #[arg(long)]
    prepare_only: Option<PathBuf>,
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
    /// Only measure the webhook worker's cost on PostgreSQL (quick A/B while
    /// working on it; writes the same files with that one figure).
    #[arg(long)]
    webhooks_only: bool,
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
        if let Some(file) = &args.prepare_only {
            let ids: Vec<String> = accounts.ids.iter().map(|id| format!("{id}\n")).collect();
            std::fs::write(file, ids.concat())?;
            return Ok(());
        }
        for &c in &args.clients {
            let s = scenarios::run(&tally, &accounts, args.scenario, c, &run, &run_id()).await;
            report
                .rows
                .push(Row::new("external", args.scenario.name(), c, &s, false));
        }
    } else {
        if let Some(pg) = &args.pg_url {
            postgres::postgres(&args, pg, &run, &mut report).await?;
        }
        if !args.no_sqlite {
            sqlite::sqlite(&args, &run, &mut report).await?;
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
