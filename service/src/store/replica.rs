//! Reads from a PostgreSQL streaming replica, never older than what a
//! client has already been told.
//!
//! Every response carries a **consistency token**, a WAL position: after a
//! write, or a read the primary served, the primary's insert position read
//! after it ([`Replica::primary_token`]: every record written so far lies
//! before it, the commit included); after a read the replica served, the
//! replica's replay position read after it ([`Replica::replica_token`]). A
//! read that brings a token is served by the replica only once the replica
//! has replayed WAL up to it (`pg_last_wal_replay_lsn()`), waiting at most
//! `max_wait`, and by the primary otherwise. A read without one is served
//! by the replica while it is at most `max_lag` behind the primary. While
//! the replica does not answer, every read goes to the primary. Replay only
//! moves forward on one server, so a position seen replayed stays replayed
//! for every later read on that server; the position starts over when
//! another server answers, and the replica URL must lead to one server at
//! a time (see the README).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::model::error::{LedgerError, Result};
use crate::store::ledger::Ledger;
use crate::store::outage::Outage;

/// A WAL position (`pg_lsn`), as PostgreSQL writes it: `16/B374D848`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is not a consistency token (a WAL position such as \"0/16B3748\")");
        let (hi, lo) = s.split_once('/').ok_or_else(bad)?;
        let part = |p: &str| match p.len() {
            1..=8 if p.bytes().all(|b| b.is_ascii_hexdigit()) => u32::from_str_radix(p, 16).map_err(|_| bad()),
            _ => Err(bad()),
        };
        Ok(Self(u64::from(part(hi)?) << 32 | u64::from(part(lo)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Which server a read goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Replica,
    Primary,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replica => "replica",
            Self::Primary => "primary",
        }
    }
}

/// How often the replica's replay position is read in the background (it
/// also tells whether the replica answers at all, and how far behind it is).
const PROBE: Duration = Duration::from_millis(100);
/// How often a read waiting for its token rereads the replay position.
const WAIT_STEP: Duration = Duration::from_millis(5);
/// The primary's WAL positions remembered for measuring the lag (20 s).
const SAMPLES: usize = 200;

/// The replica's WAL position. A promoted replica is a primary: its own
/// position. `server` names the server that answered, so a replay position
/// is never carried over to another server.
const REPLICA_POSITION: &str = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
     ELSE pg_current_wal_lsn() END)::text AS lsn, \
     concat_ws(' ', inet_server_addr(), inet_server_port(), pg_postmaster_start_time()) AS server";
/// At least the end of every record written so far, committed or not:
/// unlike the write or flush position, also with `synchronous_commit = off`.
const PRIMARY_POSITION: &str = "SELECT pg_current_wal_insert_lsn()::text AS lsn";

#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    /// The ledger whose reads go to the replica (caches shared with the primary's).
    ledger: Ledger,
    /// The primary's pool, for tokens and the lag.
    primary: DatabaseConnection,
    /// How far the server behind the URL has replayed, as last read.
    replayed: AtomicU64,
    /// Which server that was.
    server: Mutex<String>,
    answers: AtomicBool,
    /// How far behind the primary the replica is at most, in ms.
    lag_ms: AtomicU64,
    max_wait: Duration,
    max_lag: Duration,
}

impl Replica {
    /// A replica of `primary`'s database at `url` (PostgreSQL only). The
    /// pool connects lazily: a replica that is down at start only sends
    /// reads to the primary until it answers. Reads without a token use it
    /// while it is at most `max_lag` behind; reads with one wait at most
    /// `max_wait` for it to replay the token.
    pub async fn open(primary: &Ledger, url: &str, max_wait: Duration, max_lag: Duration) -> Result<Self> {
        if primary.connection().get_database_backend() != DbBackend::Postgres || !url.starts_with("postgres") {
            let message = "read replicas need PostgreSQL for both the database and the replica";
            return Err(LedgerError::client(
                crate::model::error::ErrorCode::InvalidInput,
                message,
            ));
        }
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_lazy(true)
            .max_connections(32)
            .acquire_timeout(Duration::from_secs(2))
            .test_before_acquire_if_idle_for(Duration::from_secs(10));
        let db = Database::connect(options).await?;
        let replica = Self {
            inner: Arc::new(Inner {
                ledger: primary.reading_from(db),
                primary: primary.connection().clone(),
                replayed: AtomicU64::new(0),
                server: Mutex::default(),
                answers: AtomicBool::new(false),
                lag_ms: AtomicU64::new(0),
                max_wait,
                max_lag,
            }),
        };
        let _ = replica.probe().await;
        tokio::spawn(probe_loop(Arc::downgrade(&replica.inner)));
        Ok(replica)
    }

    /// The ledger to read from when [`Replica::route`] says `Replica`.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// A token for everything committed on the primary before this call
    /// (after a write, or a read served by the primary).
    pub async fn primary_token(&self) -> Result<Lsn> {
        lsn_of(&self.inner.primary, PRIMARY_POSITION).await
    }

    /// A token for everything a read served by the replica may have seen
    /// (its replay position after the read).
    pub async fn replica_token(&self) -> Result<Lsn> {
        self.probe().await
    }

    /// Where a read that has been told `token` (if any) may go.
    pub async fn route(&self, token: Option<Lsn>) -> Route {
        let inner = &self.inner;
        if !inner.answers.load(Ordering::Acquire) {
            return Route::Primary;
        }
        let Some(token) = token else {
            let lag = Duration::from_millis(inner.lag_ms.load(Ordering::Acquire));
            return match lag <= inner.max_lag {
                true => Route::Replica,
                false => Route::Primary,
            };
        };
        let deadline = Instant::now() + inner.max_wait;
        loop {
            if inner.replayed.load(Ordering::Acquire) >= token.0 {
                return Route::Replica;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Route::Primary;
            }
            match tokio::time::timeout(left, self.probe()).await {
                Ok(Ok(lsn)) if lsn >= token => return Route::Replica,
                Ok(Ok(_)) => tokio::time::sleep(WAIT_STEP.min(left)).await,
                // Too slow to answer within the wait, or not answering.
                _ => return Route::Primary,
            }
        }
    }

    /// How far the replica has replayed, as last read.
    pub fn replayed(&self) -> Option<Lsn> {
        let inner = &self.inner;
        inner
            .answers
            .load(Ordering::Acquire)
            .then(|| Lsn(inner.replayed.load(Ordering::Acquire)))
    }

    /// Reads the replica's position into the shared state: it only moves
    /// forward on one server, and starts over when another server answers
    /// (a balancer moved the connections, the standby was rebuilt).
    async fn probe(&self) -> Result<Lsn> {
        let inner = &self.inner;
        let row = match position(inner.ledger.connection()).await {
            Ok(row) => row,
            Err(e) => {
                inner.answers.store(false, Ordering::Release);
                return Err(e);
            }
        };
        let (lsn, server) = row;
        if let Ok(mut seen) = inner.server.lock() {
            if *seen == server {
                inner.replayed.fetch_max(lsn.0, Ordering::AcqRel);
            } else {
                if !seen.is_empty() {
                    tracing::info!(from = %seen, to = %server, "another server answers for the replica");
                }
                *seen = server;
                inner.replayed.store(lsn.0, Ordering::Release);
            }
        }
        inner.answers.store(true, Ordering::Release);
        Ok(lsn)
    }
}

async fn position(db: &DatabaseConnection) -> Result<(Lsn, String)> {
    let row = one_row(db, REPLICA_POSITION).await?;
    let server: Option<String> = row.try_get("", "server")?;
    Ok((lsn_in(&row)?, server.unwrap_or_default()))
}

async fn lsn_of(db: &DatabaseConnection, sql: &str) -> Result<Lsn> {
    lsn_in(&one_row(db, sql).await?)
}

async fn one_row(db: &DatabaseConnection, sql: &str) -> Result<sea_orm::QueryResult> {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| LedgerError::Unavailable("no WAL position".into()))
}

/// The row's `lsn` column (NULL: the server has no such position).
fn lsn_in(row: &sea_orm::QueryResult) -> Result<Lsn> {
    let text: Option<String> = row.try_get("", "lsn")?;
    let text = text.ok_or_else(|| LedgerError::Unavailable("no WAL position".into()))?;
    text.parse().map_err(LedgerError::Unavailable)
}

/// Every [`PROBE`] while the replica is in use: the primary's position,
/// then the replica's. The lag is at most the age of the newest primary
/// position the replica has reached (0 when it has everything). While the
/// primary does not answer the lag is left as it was. An unreachable
/// replica is one warning per outage.
async fn probe_loop(inner: std::sync::Weak<Inner>) {
    let mut outage = Outage::new("replica probe", PROBE);
    let mut samples: VecDeque<(Instant, Lsn)> = VecDeque::with_capacity(SAMPLES);
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let replica = Replica { inner };
        let primary = lsn_of(&replica.inner.primary, PRIMARY_POSITION).await.ok();
        let now = Instant::now();
        let wait = match replica.probe().await {
            Ok(replayed) => {
                outage.succeeded();
                if let Some(position) = primary {
                    if samples.len() == SAMPLES {
                        samples.pop_front();
                    }
                    samples.push_back((now, position));
                    let lag = lag(&samples, replayed, now);
                    let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
                    replica.inner.lag_ms.store(ms, Ordering::Release);
                }
                PROBE
            }
            Err(e) => outage.failed(&e),
        };
        drop(replica);
        tokio::time::sleep(wait).await;
    }
}

/// How far behind `replayed` is, given the primary's positions over time.
fn lag(samples: &VecDeque<(Instant, Lsn)>, replayed: Lsn, now: Instant) -> Duration {
    match samples.iter().rev().find(|(_, position)| replayed >= *position) {
        Some((at, _)) => now.saturating_duration_since(*at),
        None => samples
            .front()
            .map_or(Duration::ZERO, |(at, _)| now.saturating_duration_since(*at) + PROBE),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    use super::{Lsn, lag};

    #[test]
    fn the_lag_is_the_age_of_the_newest_primary_position_reached() {
        let now = Instant::now();
        let at = |ms: u64| now.checked_sub(Duration::from_millis(ms)).unwrap();
        let samples: VecDeque<(Instant, Lsn)> = [(at(900), Lsn(10)), (at(500), Lsn(20)), (at(100), Lsn(30))].into();
        assert_eq!(lag(&samples, Lsn(30), now), Duration::from_millis(100));
        assert_eq!(lag(&samples, Lsn(25), now), Duration::from_millis(500));
        assert_eq!(lag(&samples, Lsn(10), now), Duration::from_millis(900));
        assert!(lag(&samples, Lsn(5), now) > Duration::from_millis(900));
        assert_eq!(lag(&VecDeque::new(), Lsn(5), now), Duration::ZERO);
    }

    #[test]
    fn tokens_read_and_print_as_postgresql_writes_them() {
        for text in ["0/0", "0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF"] {
            let lsn: Lsn = text.parse().unwrap();
            assert_eq!(lsn.to_string(), text);
        }
        assert!("16/B374D848".parse::<Lsn>().unwrap() > "16/B374D847".parse::<Lsn>().unwrap());
        assert!("1/0".parse::<Lsn>().unwrap() > "0/FFFFFFFF".parse::<Lsn>().unwrap());
        for bad in [
            "",
            "/",
            "0/",
            "/0",
            "x/1",
            "1/123456789",
            "1-2",
            "0/0/0",
            "-1/0",
            "+1/0",
        ] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad:?}");
        }
    }
}
