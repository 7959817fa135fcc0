//! The faults, in a cycle that repeats for the length of the run: kill -9 an
//! instance (and restart it), terminate every database connection, restart
//! PostgreSQL (fast), kill another instance, crash PostgreSQL (immediate
//! stop, then start), and hold a hot account's row lock past the
//! instances' statement timeout.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cluster::{Cluster, Postgres};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    KillInstance(usize),
    TerminateConnections,
    RestartDatabase,
    CrashDatabase,
    LockPastStatementTimeout,
}

impl Fault {
    pub const CYCLE: [Fault; 6] = [
        Fault::KillInstance(1),
        Fault::TerminateConnections,
        Fault::RestartDatabase,
        Fault::KillInstance(2),
        Fault::CrashDatabase,
        Fault::LockPastStatementTimeout,
    ];

    pub fn name(self) -> String {
        match self {
            Fault::KillInstance(i) => format!("kill -9 instance {i}, restart"),
            Fault::TerminateConnections => "pg_terminate_backend on every connection".into(),
            Fault::RestartDatabase => "PostgreSQL fast restart".into(),
            Fault::CrashDatabase => "PostgreSQL immediate stop (crash), start".into(),
            Fault::LockPastStatementTimeout => "a hot row locked for 6 s (statement timeout 2 s)".into(),
        }
    }
}

/// A fault as it happened.
#[derive(Clone, Debug)]
pub struct Injected {
    pub fault: Fault,
    pub at: Duration,
    /// When the database answered again (database faults only).
    pub recovered: Option<Duration>,
    /// After a crash: whether every instance's /readyz said 503 while the
    /// database was down, and how long after its return all said 200.
    pub readiness: Option<(bool, Duration)>,
}

pub struct Injector<'a> {
    pub cluster: &'a mut Cluster,
    pub pg: &'a Postgres,
    pub database_url: String,
    pub hot_account: uuid::Uuid,
    pub started: Instant,
}

impl Injector<'_> {
    pub async fn inject(&mut self, fault: Fault) -> Result<Injected> {
        let at = self.started.elapsed();
        eprintln!("[{:>6.1}s] fault: {}", at.as_secs_f64(), fault.name());
        let mut recovered = None;
        let mut readiness = None;
        match fault {
            Fault::KillInstance(i) => self.cluster.kill_and_restart(i, Duration::from_secs(1)).await?,
            Fault::TerminateConnections => {
                let db = self.database_url.rsplit('/').next().unwrap_or_default().to_owned();
                bench::ceiling::psql_value(
                    &self.pg.admin_url,
                    &format!(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = '{db}' AND pid <> pg_backend_pid()"
                    ),
                )?;
            }
            Fault::RestartDatabase => {
                let pg = self.pg.clone();
                tokio::task::spawn_blocking(move || {
                    pg.restart_fast().and_then(|()| pg.wait_up(Duration::from_secs(60)))
                })
                .await??;
                recovered = Some(self.started.elapsed());
            }
            Fault::CrashDatabase => {
                let pg = self.pg.clone();
                tokio::task::spawn_blocking(move || pg.crash()).await??;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let down = self.all_ready(503).await;
                let pg = self.pg.clone();
                tokio::task::spawn_blocking(move || pg.start().and_then(|()| pg.wait_up(Duration::from_secs(60))))
                    .await??;
                let back = Instant::now();
                recovered = Some(self.started.elapsed());
                let limit = Instant::now() + Duration::from_secs(30);
                while !self.all_ready(200).await && Instant::now() < limit {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                readiness = Some((down, back.elapsed()));
            }
            Fault::LockPastStatementTimeout => {
                let (url, id) = (self.database_url.clone(), self.hot_account);
                // In the background: psql holds the lock while writers time out.
                tokio::task::spawn_blocking(move || {
                    bench::ceiling::psql_value(
                        &url,
                        &format!(
                            "BEGIN; SELECT 1 FROM account WHERE id = '{id}' FOR UPDATE; SELECT pg_sleep(6); COMMIT;"
                        ),
                    )
                });
            }
        }
        Ok(Injected {
            fault,
            at,
            recovered,
            readiness,
        })
    }

    /// Whether every instance's `/readyz` answers `status`.
    async fn all_ready(&self, status: u16) -> bool {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        for base in self.cluster.bases() {
            match http.get(format!("{base}/readyz")).send().await {
                Ok(r) if r.status().as_u16() == status => {}
                _ => return false,
            }
        }
        true
    }
}
