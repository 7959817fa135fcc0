//! `chaos`: Tally under faults (see README, "Reliability under faults").
//! Three `tally serve` instances share one PostgreSQL database; 32 clients
//! move money between five hot accounts through random instances and read
//! the whole ledger, retrying every unknown outcome under its idempotency
//! key; faults are injected in a repeating cycle. Afterwards every
//! acknowledged transfer must be in the ledger exactly once and nothing
//! else, balances must add up, every read must have summed to zero, the
//! sealer must catch up and both verifiers must pass. Exit status 0 only then.

mod check;
mod cluster;
mod faults;
mod ha;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use cluster::{Cluster, InstanceSpec, Postgres};
use faults::{Fault, Injected, Injector};
use workload::{Log, Shared};

#[derive(Parser, Debug)]
#[command(about = "Tally's fault suite")]
struct Args {
    /// Admin URL of the PostgreSQL server (a database is created there).
    #[arg(long, env = "TALLY_PG_URL")]
    pg_url: String,
    /// PostgreSQL's bin directory (pg_ctl); single-server mode.
    #[arg(long, env = "PG_BIN")]
    pg_bin: Option<PathBuf>,
    /// PostgreSQL's data directory; single-server mode.
    #[arg(long, env = "PG_DATA")]
    pg_data: Option<PathBuf>,
    /// Options for `pg_ctl start -o` (listen address, port, socket dir…).
    #[arg(long, env = "PG_START_OPTIONS")]
    pg_start_options: Option<String>,
    /// PostgreSQL's log file; single-server mode.
    #[arg(long, env = "PG_LOG")]
    pg_log: Option<PathBuf>,
    /// Run against the replicated cluster `scripts/cluster.sh up` made in
    /// this directory (through its HAProxy primary port, `--pg-url`), with
    /// the cluster's faults instead of the single server's.
    #[arg(long)]
    cluster_dir: Option<PathBuf>,
    /// The cluster's control script.
    #[arg(long, default_value = "scripts/cluster.sh")]
    cluster_script: PathBuf,
    /// Cluster mode: how many times each cluster fault is done.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Cluster mode: also fail when a fault kind misses its time target
    /// (postmaster kill 10 s, node loss 30 s, switchover 5 s without an
    /// acknowledged write) or Tally's share beyond the cluster's own
    /// recovery exceeds 0.5 s.
    #[arg(long)]
    enforce_targets: bool,
    /// Run pg_ctl as this user (PostgreSQL refuses to run as root).
    #[arg(long, env = "PG_RUN_AS")]
    pg_run_as: Option<String>,
    /// The `tally` binary.
    #[arg(long)]
    binary: PathBuf,
    /// Seconds of load (faults are spread over it, a cycle a minute).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    #[arg(long, default_value_t = 3)]
    instances: usize,
    #[arg(long, default_value_t = 32)]
    clients: usize,
    #[arg(long, default_value_t = 5)]
    hot_accounts: usize,
    /// Where instance logs go.
    #[arg(long, default_value = "target/chaos")]
    dir: PathBuf,
}

#[tokio::main]
async fn main() {
    match run(Args::parse()).await {
        Ok(()) => println!("chaos: PASS"),
        Err(e) => {
            eprintln!("chaos: FAIL: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<()> {
    ensure!(args.hot_accounts >= 2, "need at least two hot accounts");
    let id = &Uuid::new_v4().simple().to_string()[..10];
    let db = format!("chaos_{id}");
    bench::ceiling::psql_value(&args.pg_url, &format!("CREATE DATABASE {db}"))?;
    let prefix = args.pg_url.rsplit_once('/').map_or(args.pg_url.as_str(), |(p, _)| p);
    let url = format!("{prefix}/{db}");
    let dir = args.dir.join(&db);
    std::fs::create_dir_all(&dir)?;
    let key = create_key(&args.binary, &url)?;
    let ports = (0..args.instances).map(|_| free_port()).collect::<Result<Vec<u16>>>()?;
    let spec = InstanceSpec {
        binary: args.binary.clone(),
        database_url: url.clone(),
        dir: dir.clone(),
        ports,
    };
    let mut cluster = Cluster::start(spec).await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
    let accounts = open_accounts(&http, &cluster.bases()[0], &key, args.hot_accounts).await?;
    let start = check::balances(&url, &accounts)?;
    let shared = Arc::new(Shared {
        http,
        bases: cluster.bases(),
        key: key.clone(),
        accounts: accounts.clone(),
        stop: Default::default(),
        started: Instant::now(),
        started_wall: std::time::SystemTime::now(),
    });
    eprintln!(
        "chaos: {} instances, {} clients, {} s, database {db}, logs in {}",
        args.instances,
        args.clients,
        args.duration,
        dir.display()
    );
    let clients: Vec<_> = (0..args.clients)
        .map(|c| tokio::spawn(workload::client(Arc::clone(&shared), c)))
        .collect();
    let (injected, ha_faults, probes) = match &args.cluster_dir {
        Some(dir) => {
            let ha = ha::Ha {
                script: args.cluster_script.clone(),
                dir: dir.clone(),
            };
            let (faults, probes) = inject_ha_faults(&ha, &args.pg_url, &shared, args.rounds).await?;
            (Vec::new(), faults, probes)
        }
        None => {
            let pg = Postgres {
                admin_url: args.pg_url.clone(),
                bin: args.pg_bin.clone().context("--pg-bin (or --cluster-dir)")?,
                data: args.pg_data.clone().context("--pg-data")?,
                start_options: args.pg_start_options.clone().context("--pg-start-options")?,
                log: args.pg_log.clone().context("--pg-log")?,
                run_as: args.pg_run_as.clone(),
            };
            let injected = inject_faults(&mut cluster, &pg, &url, accounts[0], &shared, args.duration).await?;
            (injected, Vec::new(), Vec::new())
        }
    };
    shared.stop.store(true, Ordering::Relaxed);
    let mut log = Log::default();
    for c in clients {
        merge(&mut log, c.await?);
    }
    let outcomes = ha_outcomes(&ha_faults, &log, &probes);
    let drained = check::sealer_caught_up(&url, Duration::from_secs(60)).await?;
    cluster.stop(Duration::from_secs(60)).await?;
    let audit = audit(&args, &dir, &url, &key).await;
    let verify = check::tally_verify(&args.binary, &url);
    report(&log, &injected, drained, &audit, &verify);
    report_ha(&outcomes);
    ensure!(
        log.problems.is_empty(),
        "{} problems, first: {}",
        log.problems.len(),
        log.problems[0]
    );
    let reconciled = check::transfers_match(&url, &log.acknowledged)?;
    check::balances_add_up(&url, &start, &log.acknowledged)?;
    audit?;
    verify?;
    ensure!(log.reads_checked > 0, "no read was checked");
    ensure!(
        log.internal_answers == 0,
        "{} INTERNAL answers: faults must give UNAVAILABLE, never INTERNAL",
        log.internal_answers
    );
    ensure!(!injected.is_empty() || !outcomes.is_empty(), "no fault was injected");
    for o in &outcomes {
        let Some(gap) = o.tally else {
            bail!("no write was acknowledged after {}", o.fault.name())
        };
        if args.enforce_targets {
            if let Some(target) = o.fault.target() {
                ensure!(
                    gap <= target,
                    "{}: {gap:?} without a write (target {target:?})",
                    o.fault.name()
                );
            }
            let share = o.share().unwrap_or_default();
            ensure!(
                share <= Duration::from_millis(500),
                "{}: Tally's share {share:?} beyond the cluster's own recovery",
                o.fault.name()
            );
        }
    }
    for i in &injected {
        if let Some((said_down, ready_after)) = i.readiness {
            ensure!(said_down, "an instance's /readyz did not report the database down");
            ensure!(
                ready_after < Duration::from_secs(30),
                "/readyz did not recover within 30 s of the database"
            );
        }
    }
    for (fault, first_write) in recoveries(&injected, &log) {
        let Some(after) = first_write else {
            bail!("no write succeeded after {}", fault.name())
        };
        ensure!(
            after < Duration::from_secs(20),
            "the first write after {} took {after:?}: retries must settle in seconds",
            fault.name()
        );
    }
    println!("reconciled {reconciled} acknowledged transfers; balances add up; no negative balance");
    Ok(())
}

/// The fault cycle, repeated until `duration` has passed (one fault about
/// every tenth of a minute, so a 60 s run injects each fault once).
async fn inject_faults(
    cluster: &mut Cluster,
    pg: &Postgres,
    url: &str,
    hot: Uuid,
    shared: &Shared,
    duration: u64,
) -> Result<Vec<Injected>> {
    let end = shared.started + Duration::from_secs(duration);
    // A cycle a minute: fault k of each cycle at its slot, while at least a
    // few seconds of load remain after it to show the recovery.
    let cycle = Duration::from_secs(duration.min(60));
    let slot = cycle / (Fault::CYCLE.len() as u32 + 1);
    let mut injector = Injector {
        cluster,
        pg,
        database_url: url.to_owned(),
        hot_account: hot,
        started: shared.started,
    };
    let mut injected = Vec::new();
    for (k, fault) in (0u32..).zip(Fault::CYCLE.iter().cycle()) {
        let round = k / Fault::CYCLE.len() as u32;
        let at = shared.started + cycle * round + slot * (k % Fault::CYCLE.len() as u32 + 1);
        if at + Duration::from_secs(4) > end {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        injected.push(injector.inject(*fault).await?);
    }
    let rest = end.saturating_duration_since(Instant::now());
    tokio::time::sleep(rest).await;
    Ok(injected)
}

/// Cluster mode: each fault in turn, `rounds` times, each once the cluster
/// is healthy again after the one before (and a few seconds of steady load
/// between), with the psql probe running throughout.
async fn inject_ha_faults(
    ha: &ha::Ha,
    url: &str,
    shared: &Shared,
    rounds: usize,
) -> Result<(Vec<(ha::HaFault, Duration)>, Vec<ha::Probe>)> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probes = ha::spawn_probe(url.to_owned(), shared.started, Arc::clone(&stop));
    ha.wait_healthy(Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut done = Vec::new();
    for _ in 0..rounds {
        for fault in ha::HaFault::CYCLE {
            eprintln!(
                "[{:>6.1}s] fault: {}",
                shared.started.elapsed().as_secs_f64(),
                fault.name()
            );
            let happened = ha.inject(fault).await?;
            // The moment of the kill, on the run's clock.
            let at = happened
                .duration_since(shared.started_wall)
                .unwrap_or_else(|_| shared.started.elapsed());
            done.push((fault, at));
            tokio::time::sleep(Duration::from_secs(3)).await;
            ha.wait_healthy(Duration::from_secs(120)).await?;
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probes = probes.lock().map(|p| p.clone()).unwrap_or_default();
    Ok((done, probes))
}

fn ha_outcomes(faults: &[(ha::HaFault, Duration)], log: &Log, probes: &[ha::Probe]) -> Vec<ha::Outcome> {
    let end = log.acknowledged.iter().map(|a| a.at).max().unwrap_or_default();
    faults
        .iter()
        .enumerate()
        .map(|(i, &(fault, at))| {
            let until = faults.get(i + 1).map_or(end, |next| next.1);
            ha::Outcome {
                fault,
                at,
                tally: ha::longest_gap(at, until, log.acknowledged.iter().map(|a| a.at)),
                cluster: ha::longest_gap(at, until, probes.iter().map(|p| p.done)),
            }
        })
        .collect()
}

fn report_ha(outcomes: &[ha::Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    let secs = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
    println!("cluster faults (longest time without an acknowledged write, from the fault to the next):");
    for o in outcomes {
        println!(
            "  at {:>6.1} s: {:<52} tally {:>8}  psql {:>8}  tally's share {:>8}",
            o.at.as_secs_f64(),
            o.fault.name(),
            secs(o.tally),
            secs(o.cluster),
            secs(o.share())
        );
    }
    for fault in ha::HaFault::CYCLE {
        let of: Vec<&ha::Outcome> = outcomes.iter().filter(|o| o.fault == fault).collect();
        let pick = |f: fn(&ha::Outcome) -> Option<Duration>| ha::p50_max(of.iter().filter_map(|o| f(o)).collect());
        let show = |v: Option<(Duration, Duration)>| {
            v.map_or("-".to_owned(), |(p50, max)| {
                format!("p50 {:.2} s, max {:.2} s", p50.as_secs_f64(), max.as_secs_f64())
            })
        };
        let target = fault
            .target()
            .map_or(String::new(), |t| format!(" (target ≤ {} s)", t.as_secs()));
        println!(
            "  {} × {}{target}: tally {}; psql {}; tally's share {}",
            of.len(),
            fault.name(),
            show(pick(|o| o.tally)),
            show(pick(|o| o.cluster)),
            show(pick(ha::Outcome::share))
        );
    }
}

/// For each database fault: how long after the database was back the first
/// transfer was acknowledged.
fn recoveries(injected: &[Injected], log: &Log) -> Vec<(Fault, Option<Duration>)> {
    injected
        .iter()
        .filter_map(|i| i.recovered.map(|r| (i.fault, r)))
        .map(|(fault, back)| {
            let first = log.acknowledged.iter().map(|a| a.at).filter(|at| *at >= back).min();
            (fault, first.map(|at| at - back))
        })
        .collect()
}

/// `verifyLedger` through a fresh instance made for long audits (no
/// request deadline to speak of; the instances under load had 5 s, and an
/// audit of the whole ledger takes longer once it has grown).
async fn audit(args: &Args, dir: &std::path::Path, url: &str, key: &str) -> Result<String> {
    let port = free_port()?;
    let mut auditor = cluster::Auditor::start(&args.binary, url, dir, port).await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?;
    let answer: serde_json::Value = http
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": "{ verifyLedger { ok entriesChecked problems { message } } }" }))
        .send()
        .await?
        .json()
        .await?;
    auditor.stop().await?;
    ensure!(
        answer["data"]["verifyLedger"]["ok"] == json!(true),
        "verifyLedger: {answer}"
    );
    Ok(format!(
        "ok, {} entries",
        answer["data"]["verifyLedger"]["entriesChecked"]
    ))
}

fn report(log: &Log, injected: &[Injected], drained: Duration, audit: &Result<String>, verify: &Result<String>) {
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for i in injected {
        *faults.entry(i.fault.name()).or_default() += 1;
    }
    println!("requests sent:                 {}", log.requests);
    println!("transfers acknowledged:        {}", log.acknowledged.len());
    println!(
        "unknown, then resolved:        {} (longest {:.1} s)",
        log.unknown_then_resolved,
        log.longest_unknown.as_secs_f64()
    );
    println!("refused (business):            {}", log.refused);
    println!("INTERNAL answers (retried):    {}", log.internal_answers);
    println!(
        "reads checked (sum = 0):       {} ({} failed to answer)",
        log.reads_checked, log.reads_failed
    );
    if !injected.is_empty() {
        println!("faults injected:               {}", injected.len());
    }
    for (name, n) in &faults {
        println!("  {n} × {name}");
    }
    for i in injected {
        println!("  at {:>6.1} s: {}", i.at.as_secs_f64(), i.fault.name());
    }
    for i in injected {
        if let Some((down, after)) = i.readiness {
            println!(
                "/readyz during the crash: {}; 200 on every instance {:.2} s after the database was back",
                if down {
                    "503 on every instance"
                } else {
                    "NOT 503 everywhere"
                },
                after.as_secs_f64()
            );
        }
    }
    for (fault, first) in recoveries(injected, log) {
        match first {
            Some(d) => println!(
                "database back → first acknowledged write: {:.2} s ({})",
                d.as_secs_f64(),
                fault.name()
            ),
            None => println!("database back → no write acknowledged afterwards ({})", fault.name()),
        }
    }
    println!("sealer queue drained {:.1} s after the load", drained.as_secs_f64());
    match audit {
        Ok(line) => println!("verifyLedger: {line}"),
        Err(e) => println!("verifyLedger: FAILED: {e:#}"),
    }
    match verify {
        Ok(line) => println!("tally verify: {line}"),
        Err(e) => println!("tally verify: FAILED: {e:#}"),
    }
}

fn merge(into: &mut Log, from: Log) {
    into.requests += from.requests;
    into.acknowledged.extend(from.acknowledged);
    into.refused += from.refused;
    into.unknown_then_resolved += from.unknown_then_resolved;
    into.longest_unknown = into.longest_unknown.max(from.longest_unknown);
    into.internal_answers += from.internal_answers;
    into.reads_checked += from.reads_checked;
    into.reads_failed += from.reads_failed;
    into.problems.extend(from.problems);
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn create_key(binary: &std::path::Path, url: &str) -> Result<String> {
    bench::server::create_key(binary, url).context("creating the chaos run's API key")
}

/// The hot accounts, each funded with 10,000.00.
async fn open_accounts(http: &reqwest::Client, base: &str, key: &str, n: usize) -> Result<Vec<Uuid>> {
    let shared = Shared {
        http: http.clone(),
        bases: vec![base.to_owned()],
        key: key.to_owned(),
        accounts: Vec::new(),
        stop: Default::default(),
        started: Instant::now(),
        started_wall: std::time::SystemTime::now(),
    };
    let mut ids = Vec::new();
    for i in 0..n {
        let body = workload::post(
            &shared,
            base,
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            json!({ "i": { "code": format!("hot-{i}"), "currency": "USD" } }),
        )
        .await?;
        let id = Uuid::parse_str(body["data"]["createAccount"]["id"].as_str().context("no account id")?)?;
        let deposit = json!({ "i": { "accountId": id, "amount": Decimal::new(1_000_000, 2).to_string(), "idempotencyKey": format!("fund-{i}") } });
        let body = workload::post(
            &shared,
            base,
            "mutation($i: DepositInput!) { deposit(input: $i) { id } }",
            deposit,
        )
        .await?;
        ensure!(body["data"]["deposit"]["id"].is_string(), "{body}");
        ids.push(id);
    }
    Ok(ids)
}
