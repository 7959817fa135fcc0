//! Starts `tally serve` as its own process (so its memory can be measured)
//! and stops it afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub async fn start(
        binary: &Path,
        database_url: &str,
        port: u16,
        combining: bool,
        data_dir: &Path,
    ) -> Result<Server> {
        Self::start_with(binary, database_url, port, combining, data_dir, &[]).await
    }

    /// [`Server::start`] with extra `serve` flags.
    pub async fn start_with(
        binary: &Path,
        database_url: &str,
        port: u16,
        combining: bool,
        data_dir: &Path,
        extra: &[&str],
    ) -> Result<Server> {
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(binary)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                database_url,
            ])
            .args(["--write-combining", if combining { "true" } else { "false" }])
            // With an API key, every request still passes the rate limiter;
            // its budget is set out of reach so that it measures, not throttles.
            .args(["--rate-limit", "100000000", "--rate-limit-burst", "100000000"])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let server = Server { child, base };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&self) -> Result<()> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(r) = client.get(format!("{}/health", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("tally did not become healthy within 60 s")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A run that fails half-way must not leave a server holding the port (the
/// next run would then fail to listen).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Creates an admin API key on `database_url` with `tally keys create`; from
/// then on every server on that database requires it.
pub fn create_key(binary: &Path, database_url: &str) -> Result<String> {
    let name = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let out = Command::new(binary)
        .args([
            "keys",
            "--database-url",
            database_url,
            "create",
            "--name",
            &name,
            "--scope",
            "admin",
        ])
        .env("RUST_LOG", "warn")
        .output()?;
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !key.starts_with("tally_") {
        bail!("tally keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(key)
}

/// Resident memory of a process in MiB (Linux).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The `tally` binary next to this one, built with `cargo build --release -p api` if missing.
pub fn tally_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no binary directory")?;
    let tally = dir.join("tally");
    if !tally.exists() {
        let profile = if dir.ends_with("release") {
            "--release"
        } else {
            "--quiet"
        };
        let status = Command::new("cargo")
            .args(["build", profile, "-p", "api", "--bin", "tally"])
            .status()?;
        if !status.success() || !tally.exists() {
            bail!("could not build {}", tally.display());
        }
    }
    Ok(tally)
}
