//! The real `tally` binary as a child process: for what only a process can
//! show (signals, exit codes, its command line, its log lines, TLS).
//! `TALLY_BIN` names the binary; `bash scripts/test.sh` builds it and sets
//! it. A test that needs it fails without it, never skips.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub fn binary() -> Result<PathBuf> {
    let path = std::env::var("TALLY_BIN")
        .context("TALLY_BIN is not set: process tests need the binary that `bash scripts/test.sh` builds")?;
    let path = PathBuf::from(path);
    anyhow::ensure!(path.is_file(), "TALLY_BIN={} is not a file", path.display());
    Ok(path)
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running `tally serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `tally <args>` with stderr in `log`; with `ready`, waits until
    /// `GET <ready>/healthz` answers.
    pub fn start(args: &[String], env: &[(&str, &str)], log: PathBuf, base: &str) -> Result<Self> {
        let mut cmd = Command::new(binary()?);
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        Ok(Self {
            child,
            base: base.to_owned(),
            log,
        })
    }

    /// Waits until `/healthz` answers 200 (over `client`), or the process ends.
    pub async fn wait_ready(&mut self, client: &reqwest::Client) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait()? {
                bail!("tally exited ({status}) before it was ready:\n{}", self.log_text());
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("tally was not ready within 30 s:\n{}", self.log_text())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (through `kill`, so the test crate needs no unsafe code).
    pub fn terminate(&self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        Ok(())
    }

    /// Waits for the process to end (at most `limit`).
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > limit {
                bail!("tally did not exit within {limit:?}:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tally <args>` to completion; returns (status, stdout, stderr).
pub fn run(args: &[&str]) -> Result<(ExitStatus, String, String)> {
    let out = Command::new(binary()?).args(args).output()?;
    Ok((
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `serve` arguments for `listen` on `url`, files in `dir`, then `extra`.
pub fn serve_args(listen: &str, url: &str, dir: &tempfile::TempDir, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["serve", "--listen", listen, "--database-url", url, "--data-dir"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.push(dir.path().display().to_string());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}
