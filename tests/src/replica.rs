//! A streaming replica of the test PostgreSQL server (`TALLY_TEST_PG_URL`):
//! `pg_basebackup -R` into a temporary directory, started on a free port,
//! stopped and removed on drop. As root, PostgreSQL runs as `postgres`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

pub struct PgReplica {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// `postgres://…/` of the primary without a database name.
    pub primary_prefix: String,
}

fn pg_bin() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed under /usr/lib/postgresql")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_basebackup").exists())
        .collect();
    dirs.sort();
    dirs.pop().context("no pg_basebackup under /usr/lib/postgresql/*/bin")
}

fn as_postgres(bin: &std::path::Path, args: &[&str]) -> Command {
    // PostgreSQL refuses to run as root.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut command = match root {
        true => {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        }
        false => Command::new(bin),
    };
    command.args(args);
    command
}

fn run(mut command: Command, what: &str) -> Result<()> {
    let out = command.output().with_context(|| format!("{what}: could not start"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl PgReplica {
    /// Clones the test server and starts the clone as its streaming standby.
    pub fn start() -> Result<Self> {
        let admin = std::env::var("TALLY_TEST_PG_URL").context("TALLY_TEST_PG_URL is not set")?;
        let url = reqwest::Url::parse(&admin)?;
        let host = url.host_str().context("no host")?.to_owned();
        let primary_port = url.port().unwrap_or(5432);
        let user = match url.username() {
            "" => "postgres".to_owned(),
            u => u.to_owned(),
        };
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new().prefix("tally-replica.").tempdir()?.keep();
        let _ = Command::new("chown").arg("postgres").arg(&dir).status();
        let _ = Command::new("chmod").arg("755").arg(&dir).status();
        let data = dir.join("data");
        let data_s = data.to_string_lossy().into_owned();
        let port_s = primary_port.to_string();
        run(
            as_postgres(
                &bin.join("pg_basebackup"),
                &[
                    "-h",
                    &host,
                    "-p",
                    &port_s,
                    "-U",
                    &user,
                    "-D",
                    &data_s,
                    "-R",
                    "-X",
                    "stream",
                    "--checkpoint=fast",
                ],
            ),
            "pg_basebackup",
        )?;
        // A standby refuses to start with fewer connections than its primary.
        let out = Command::new(bin.join("psql"))
            .args(["-At", "-c", "SHOW max_connections", &admin])
            .output()?;
        let connections = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let port = crate::process::free_port()?;
        let options = format!(
            "-h 127.0.0.1 -p {port} -k {} -c hot_standby=on -c max_connections={connections}",
            dir.display()
        );
        let log = dir.join("log").to_string_lossy().into_owned();
        let replica = Self {
            primary_prefix: format!("postgres://{user}@{host}:{primary_port}"),
            dir,
            bin,
            port,
        };
        run(
            as_postgres(
                &replica.bin.join("pg_ctl"),
                &["-D", &data_s, "-l", &log, "-w", "start", "-o", &options],
            ),
            "starting the replica",
        )?;
        Ok(replica)
    }

    /// The replica's URL for the database at `primary_url`.
    pub fn url_for(&self, primary_url: &str) -> Result<String> {
        let mut url = reqwest::Url::parse(primary_url)?;
        url.set_port(Some(self.port))
            .map_err(|_| anyhow::anyhow!("cannot set port"))?;
        url.set_host(Some("127.0.0.1"))?;
        Ok(url.to_string())
    }

    /// Stops the replica now (`immediate`: as if its machine died).
    pub fn stop(&self) -> Result<()> {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        run(
            as_postgres(
                &self.bin.join("pg_ctl"),
                &["-D", &data, "-m", "immediate", "-w", "stop"],
            ),
            "stopping the replica",
        )
    }
}

impl Drop for PgReplica {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
