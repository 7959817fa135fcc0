//! The raw-SQL ceiling: the pgbench scripts in `../shared/bench/ceiling`,
//! run against the same PostgreSQL server, at the same concurrency.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub struct Ceiling {
    pub dir: PathBuf,
    pub url: String,
    pub accounts: usize,
}

impl Ceiling {
    /// Fresh ceiling tables and functions (as its README prescribes).
    pub fn prepare(&self) -> Result<()> {
        self.psql(&[
            "-v",
            &format!("naccounts={}", self.accounts),
            "-f",
            &self.file("schema.sql"),
        ])?;
        self.psql(&["-f", &self.file("function.sql"), "-f", &self.file("batch.sql")])
    }

    /// Transfers per second of `script` with `clients` clients (× `batch` for batches).
    pub fn run(&self, script: &str, clients: usize, hot: bool, batch: usize, seconds: u64) -> Result<f64> {
        let jobs = clients.min(2).to_string();
        let output = Command::new("pgbench")
            .arg(&self.url)
            .args([
                "-n",
                "-M",
                "prepared",
                "-c",
                &clients.to_string(),
                "-j",
                &jobs,
                "-T",
                &seconds.to_string(),
            ])
            .args([
                "-D",
                &format!("naccounts={}", self.accounts),
                "-D",
                &format!("hot={}", u8::from(hot)),
            ])
            .args(["-D", &format!("batch={batch}"), "-f", &self.file(script)])
            .output()
            .context("cannot run pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok());
        match tps {
            Some(tps) => Ok(tps * batch.max(1) as f64),
            None => bail!(
                "pgbench {script} failed: {}{}",
                text,
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn psql(&self, args: &[&str]) -> Result<()> {
        let out = Command::new("psql")
            .arg(&self.url)
            .args(["-q", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}

/// Runs one SQL query with psql and returns its single value.
pub fn psql_value(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql").arg(url).args(["-At", "-c", sql]).output()?;
    if !out.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `../shared/bench/ceiling` relative to the workspace.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/ceiling")
}
