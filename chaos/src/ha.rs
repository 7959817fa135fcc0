//! The fault suite on a replicated cluster (`scripts/cluster.sh`: three
//! PostgreSQL nodes under Patroni, etcd, HAProxy in front): the faults a
//! primary's loss is made of, done through the script's helpers, and a
//! plain `psql` insert through HAProxy every 50 ms that measures the
//! cluster's own recovery, so that Tally's share of each outage can be
//! told apart from it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HaFault {
    /// kill -9 of the primary's postmaster (its Patroni lives on).
    KillPrimaryPostgres,
    /// The whole primary node: its Patroni and PostgreSQL killed together,
    /// brought back 10 s later.
    NodeLoss,
    /// A planned `patronictl switchover`.
    Switchover,
    /// kill -9 of the synchronous standby's postmaster.
    KillSyncStandby,
    /// kill -9 of one etcd member, restarted 5 s later.
    KillEtcd,
}

impl HaFault {
    pub const CYCLE: [HaFault; 5] = [
        HaFault::KillPrimaryPostgres,
        HaFault::NodeLoss,
        HaFault::Switchover,
        HaFault::KillSyncStandby,
        HaFault::KillEtcd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HaFault::KillPrimaryPostgres => "kill -9 of the primary's postmaster",
            HaFault::NodeLoss => "loss of the primary node (Patroni and PostgreSQL)",
            HaFault::Switchover => "planned switchover",
            HaFault::KillSyncStandby => "kill -9 of the synchronous standby",
            HaFault::KillEtcd => "kill -9 of one etcd member",
        }
    }

    /// The longest acceptable time from the fault to the first acknowledged
    /// write (the targets on this machine), where one is set.
    pub fn target(self) -> Option<Duration> {
        match self {
            HaFault::KillPrimaryPostgres => Some(Duration::from_secs(10)),
            HaFault::NodeLoss => Some(Duration::from_secs(30)),
            HaFault::Switchover => Some(Duration::from_secs(5)),
            HaFault::KillSyncStandby | HaFault::KillEtcd => None,
        }
    }
}

/// Drives `scripts/cluster.sh` on the cluster in `dir`.
#[derive(Clone)]
pub struct Ha {
    pub script: PathBuf,
    pub dir: PathBuf,
}

impl Ha {
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .env("CLUSTER_DIR", &self.dir)
            .output()
            .with_context(|| format!("running cluster.sh {args:?}"))?;
        if !out.status.success() {
            bail!(
                "cluster.sh {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    async fn run_async(&self, args: &'static [&'static str]) -> Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.run(args)).await?
    }

    /// Does the fault and returns when it happened (the helper's `t=`: the
    /// kill itself, after it found its target); what must be undone later
    /// is undone in the background.
    pub async fn inject(&self, fault: HaFault) -> Result<SystemTime> {
        let said = match fault {
            HaFault::KillPrimaryPostgres => self.run_async(&["kill-primary-postgres"]).await?,
            HaFault::Switchover => self.run_async(&["switchover"]).await?,
            HaFault::KillSyncStandby => self.run_async(&["kill-sync-standby"]).await?,
            HaFault::NodeLoss => {
                let node = self.run_async(&["leader"]).await?;
                let said = self.node_action("kill-node", &node).await?;
                self.later(Duration::from_secs(10), "start-node", node);
                said
            }
            HaFault::KillEtcd => {
                let member = "2".to_owned();
                let said = self.node_action("kill-etcd", &member).await?;
                self.later(Duration::from_secs(5), "start-etcd", member);
                said
            }
        };
        when(&said).with_context(|| format!("no t= in {said:?}"))
    }

    async fn node_action(&self, action: &str, n: &str) -> Result<String> {
        let (this, action, n) = (self.clone(), action.to_owned(), n.to_owned());
        tokio::task::spawn_blocking(move || this.run(&[&action, &n])).await?
    }

    fn later(&self, after: Duration, action: &'static str, n: String) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Err(e) = this.node_action(action, &n).await {
                eprintln!("chaos: {action} {n} failed: {e:#}");
            }
        });
    }

    /// Waits until the cluster has a primary, a synchronous standby and all
    /// three nodes and etcd members running again.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<()> {
        let end = Instant::now() + limit;
        loop {
            if self.run_async(&["healthy"]).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > end {
                bail!(
                    "the cluster was not healthy again within {limit:?}:\n{}",
                    self.run(&["status"]).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The `t=<seconds since the epoch>` of a helper's line.
fn when(line: &str) -> Option<SystemTime> {
    let t: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("t="))?
        .parse()
        .ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t))
}

/// One insert through HAProxy: when it succeeded.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub done: Duration,
}

/// Inserts a row through `url` every 50 ms, each on a new connection (as
/// a client after a failover would), until `stop`; records the successes.
pub fn spawn_probe(url: String, started: Instant, stop: Arc<std::sync::atomic::AtomicBool>) -> Arc<Mutex<Vec<Probe>>> {
    let probes: Arc<Mutex<Vec<Probe>>> = Arc::default();
    let record = Arc::clone(&probes);
    let url = match url.contains('?') {
        true => format!("{url}&connect_timeout=1"),
        false => format!("{url}?connect_timeout=1"),
    };
    let _ = bench::ceiling::psql_value(&url, "CREATE TABLE IF NOT EXISTS chaos_probe (at timestamptz)");
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if bench::ceiling::psql_value(&url, "INSERT INTO chaos_probe VALUES (now())").is_ok()
                && let Ok(mut p) = record.lock()
            {
                p.push(Probe {
                    done: started.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    probes
}

/// A fault as it happened, with what it cost writers: the longest time
/// without an acknowledged write, from the fault until the next fault (a
/// planned switchover refuses writes only once its demotion starts, some
/// time after the command; the gap measures that too).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub fault: HaFault,
    pub at: Duration,
    /// Tally's clients: the longest gap between acknowledged transfers.
    pub tally: Option<Duration>,
    /// The plain psql inserts through HAProxy, likewise.
    pub cluster: Option<Duration>,
}

impl Outcome {
    /// Tally's share beyond the cluster's own recovery.
    pub fn share(&self) -> Option<Duration> {
        Some(self.tally?.saturating_sub(self.cluster?))
    }
}

/// The longest stretch in `[from, to]` with no success (success times in
/// any order), counting from `from`; `None` when nothing succeeded in it.
pub fn longest_gap(from: Duration, to: Duration, done: impl Iterator<Item = Duration>) -> Option<Duration> {
    let mut times: Vec<Duration> = done.filter(|t| *t >= from && *t <= to).collect();
    times.sort();
    let first = *times.first()?;
    let gaps = times.windows(2).map(|w| w[1] - w[0]);
    Some(gaps.fold(first - from, Duration::max))
}

/// p50 and max of some durations.
pub fn p50_max(mut d: Vec<Duration>) -> Option<(Duration, Duration)> {
    d.sort();
    Some((*d.get(d.len() / 2)?, *d.last()?))
}
