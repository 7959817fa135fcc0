//! What one committed transfer costs, read from the kernel and from
//! PostgreSQL's own counters around a run: CPU time of the Tally server,
//! of PostgreSQL (the postmaster, its live children, and the children it
//! has already reaped: a backend's time moves to its parent when it exits)
//! and of the load generator (this process and the children it reaped,
//! such as pgbench); and WAL bytes (`pg_current_wal_lsn()`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::ceiling::psql_value;

/// Where the readings come from.
pub struct Meter {
    url: String,
    postmaster: u32,
    tick: f64,
}

/// Counters at one moment (CPU in clock ticks).
#[derive(Clone, Debug)]
pub struct Reading {
    server: u64,
    postgres: u64,
    load: u64,
    wal: String,
}

/// Per committed transfer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    pub server_us: f64,
    pub postgres_us: f64,
    pub load_us: f64,
    pub wal_bytes: f64,
}

impl Meter {
    /// For the PostgreSQL server behind `url` (an admin URL: reading
    /// `data_directory` needs a superuser), on this machine.
    pub fn new(url: &str) -> Result<Self> {
        let data = psql_value(url, "SHOW data_directory")?;
        let pid_file = std::fs::read_to_string(Path::new(&data).join("postmaster.pid"))
            .with_context(|| format!("reading {data}/postmaster.pid"))?;
        let postmaster = pid_file.lines().next().unwrap_or_default().trim().parse()?;
        let tick = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .unwrap_or(100.0);
        Ok(Self {
            url: url.to_owned(),
            postmaster,
            tick,
        })
    }

    /// The counters now; `server` is the Tally process, if one runs.
    pub fn read(&self, server: Option<u32>) -> Result<Reading> {
        let mut postgres = 0;
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Some(stat) = Stat::of(pid) else { continue };
            if pid == self.postmaster {
                postgres += stat.own + stat.reaped;
            } else if stat.ppid == self.postmaster {
                postgres += stat.own;
            }
        }
        let me = Stat::of(std::process::id()).context("reading /proc/self")?;
        Ok(Reading {
            server: server.and_then(Stat::of).map_or(0, |s| s.own),
            postgres,
            load: me.own + me.reaped,
            wal: psql_value(&self.url, "SELECT pg_current_wal_lsn()")?,
        })
    }

    /// What happened between two readings, per transfer of `transfers`.
    pub fn cost(&self, before: &Reading, after: &Reading, transfers: f64) -> Result<Cost> {
        let n = transfers.max(1.0);
        let us = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / self.tick * 1e6 / n;
        let wal: f64 = psql_value(
            &self.url,
            &format!("SELECT pg_wal_lsn_diff('{}', '{}')", after.wal, before.wal),
        )?
        .parse()?;
        Ok(Cost {
            server_us: us(before.server, after.server),
            postgres_us: us(before.postgres, after.postgres),
            load_us: us(before.load, after.load),
            wal_bytes: wal / n,
        })
    }
}

/// A process's CPU ticks (own: user + system; reaped: its waited-for
/// children's) and its parent.
struct Stat {
    ppid: u32,
    own: u64,
    reaped: u64,
}

impl Stat {
    fn of(pid: u32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields start
        // after its last ')'. Then: state(3) ppid(4) … utime(14) stime(15)
        // cutime(16) cstime(17), numbered from 1 with the pid first.
        let rest = &text[text.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
        Some(Self {
            ppid: n(4)? as u32,
            own: n(14)? + n(15)?,
            reaped: n(16)? + n(17)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_stat() {
        let s = Stat::of(std::process::id()).expect("own stat");
        assert!(s.ppid > 0);
    }
}
