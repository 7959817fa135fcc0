//! The system under test: `tally serve` instances on one PostgreSQL server,
//! and the faults done to them (kill -9 and restart an instance; restart,
//! crash and restart PostgreSQL; terminate every connection; hold a row lock
//! past the statement timeout).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How to reach and control the PostgreSQL server.
#[derive(Clone, Debug)]
pub struct Postgres {
    /// Admin URL (a database of the server).
    pub admin_url: String,
    pub bin: PathBuf,
    pub data: PathBuf,
    /// Options `pg_ctl start -o` needs after an immediate stop.
    pub start_options: String,
    pub log: PathBuf,
    /// PostgreSQL refuses to run as root: the user to run pg_ctl as.
    pub run_as: Option<String>,
}

impl Postgres {
    fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&pg_ctl);
                c
            }
            None => Command::new(&pg_ctl),
        };
        let out = cmd.args(args).output()?;
        if !out.status.success() {
            bail!("pg_ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn data(&self) -> String {
        self.data.display().to_string()
    }

    /// `pg_ctl restart -m fast`: clients are disconnected, the server comes back.
    pub fn restart_fast(&self) -> Result<()> {
        self.pg_ctl(&[
            "restart",
            "-m",
            "fast",
            "-w",
            "-D",
            &self.data(),
            "-l",
            &self.log.display().to_string(),
        ])
    }

    /// `pg_ctl stop -m immediate` (a crash: no checkpoint, recovery on start).
    pub fn crash(&self) -> Result<()> {
        self.pg_ctl(&["stop", "-m", "immediate", "-D", &self.data()])
    }

    pub fn start(&self) -> Result<()> {
        self.pg_ctl(&[
            "start",
            "-w",
            "-D",
            &self.data(),
            "-l",
            &self.log.display().to_string(),
            "-o",
            &self.start_options,
        ])
    }

    /// Waits until the server answers a query again.
    pub fn wait_up(&self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        while bench::ceiling::psql_value(&self.admin_url, "SELECT 1").is_err() {
            if started.elapsed() > limit {
                bail!("PostgreSQL did not come back within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

/// The instances' command line, shared by every start and restart.
#[derive(Clone, Debug)]
pub struct InstanceSpec {
    pub binary: PathBuf,
    pub database_url: String,
    pub dir: PathBuf,
    pub ports: Vec<u16>,
}

pub struct Cluster {
    spec: InstanceSpec,
    children: Vec<Option<Child>>,
}

impl Cluster {
    pub async fn start(spec: InstanceSpec) -> Result<Self> {
        let mut cluster = Self {
            children: spec.ports.iter().map(|_| None).collect(),
            spec,
        };
        for i in 0..cluster.children.len() {
            cluster.spawn(i)?;
        }
        for i in 0..cluster.children.len() {
            cluster.wait_healthy(i).await?;
        }
        Ok(cluster)
    }

    pub fn bases(&self) -> Vec<String> {
        self.spec
            .ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let port = self.spec.ports[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.spec.dir.join(format!("instance-{i}.log")))?;
        let child = Command::new(&self.spec.binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &self.spec.database_url])
            .arg("--signing-key-file")
            .arg(self.spec.dir.join("signing.key"))
            .arg("--data-dir")
            .arg(&self.spec.dir)
            .args(["--statement-timeout-ms", "2000", "--request-timeout-ms", "5000"])
            .args(["--rate-limit", "0", "--seal-interval-ms", "250"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.spec.binary.display()))?;
        self.children[i] = Some(child);
        Ok(())
    }

    async fn wait_healthy(&self, i: usize) -> Result<()> {
        let base = &self.bases()[i];
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("instance {i} was not ready within 60 s")
    }

    /// `kill -9` instance `i`, then start it again once `down` has passed.
    pub async fn kill_and_restart(&mut self, i: usize, down: Duration) -> Result<()> {
        if let Some(mut child) = self.children[i].take() {
            child.kill()?; // SIGKILL
            child.wait()?;
        }
        tokio::time::sleep(down).await;
        self.spawn(i)?;
        self.wait_healthy(i).await
    }

    /// SIGTERM to every instance; each must exit 0 within `limit`.
    pub async fn stop(&mut self, limit: Duration) -> Result<()> {
        for child in self.children.iter().flatten() {
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
        }
        let started = Instant::now();
        for (i, slot) in self.children.iter_mut().enumerate() {
            let Some(child) = slot.as_mut() else { continue };
            loop {
                if let Some(status) = child.try_wait()? {
                    if !status.success() {
                        bail!("instance {i} exited with {status} after SIGTERM");
                    }
                    break;
                }
                if started.elapsed() > limit {
                    bail!("instance {i} did not stop within {limit:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            *slot = None;
        }
        Ok(())
    }
}

/// One more instance, for the audit after the load: no statement timeout,
/// a request deadline long enough for a whole-ledger `verifyLedger`, no sealer.
pub struct Auditor(Child);

impl Auditor {
    pub async fn start(binary: &std::path::Path, url: &str, dir: &std::path::Path, port: u16) -> Result<Self> {
        let log = std::fs::File::create(dir.join("auditor.log"))?;
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", url])
            .arg("--signing-key-file")
            .arg(dir.join("signing.key"))
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--statement-timeout-ms",
                "0",
                "--request-timeout-ms",
                "900000",
                "--seal-interval-ms",
                "0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let auditor = Self(child);
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(auditor);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the auditor instance was not ready within 60 s")
    }

    pub async fn stop(&mut self) -> Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()?;
        let started = Instant::now();
        while self.0.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the auditor did not stop within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
