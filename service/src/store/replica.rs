//! Reads from a PostgreSQL streaming replica, never older than what a
//! client has already been told.
//!
//! A write's **consistency token** is the primary's WAL position read
//! after its commit returned ([`Replica::commit_token`]): the commit record
//! lies before it. A read that brings a token is served by the replica only
//! once the replica has replayed WAL up to it (`pg_last_wal_replay_lsn()`),
//! waiting at most `max_wait`, and by the primary otherwise; a read without
//! one gets the replica's state as it is (its replay lag behind the
//! primary). While the replica does not answer, every read goes to the
//! primary. Replay only moves forward on one server, so a position seen
//! replayed stays replayed for every later read on that server — which is
//! why the replica URL must lead to one server (see the README).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// also tells whether the replica answers at all).
const PROBE: Duration = Duration::from_millis(100);
/// How often a read waiting for its token rereads the replay position.
const WAIT_STEP: Duration = Duration::from_millis(2);

#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    /// The ledger whose reads go to the replica (caches shared with the primary's).
    ledger: Ledger,
    /// The primary's pool, for commit tokens.
    primary: DatabaseConnection,
    replayed: AtomicU64,
    answers: AtomicBool,
    max_wait: Duration,
}

impl Replica {
    /// A replica of `primary`'s database at `url` (PostgreSQL only). The
    /// pool connects lazily: a replica that is down at start only sends
    /// reads to the primary until it answers.
    pub async fn open(primary: &Ledger, url: &str, max_wait: Duration) -> Result<Self> {
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
                answers: AtomicBool::new(false),
                max_wait,
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

    /// The consistency token of every write committed before this call.
    pub async fn commit_token(&self) -> Result<Lsn> {
        let sql = "SELECT pg_current_wal_lsn()::text AS lsn";
        lsn_of(&self.inner.primary, sql).await
    }

    /// Where a read that has been told `token` (if any) may go.
    pub async fn route(&self, token: Option<Lsn>) -> Route {
        let inner = &self.inner;
        if !inner.answers.load(Ordering::Acquire) {
            return Route::Primary;
        }
        let Some(token) = token else {
            return Route::Replica;
        };
        let deadline = Instant::now() + inner.max_wait;
        loop {
            if inner.replayed.load(Ordering::Acquire) >= token.0 {
                return Route::Replica;
            }
            if Instant::now() >= deadline || self.probe().await.is_err() {
                return Route::Primary;
            }
            if inner.replayed.load(Ordering::Acquire) < token.0 {
                tokio::time::sleep(WAIT_STEP.min(deadline.saturating_duration_since(Instant::now()))).await;
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

    /// Reads the replica's replay position (a promoted replica: its own
    /// WAL position) into the shared state.
    async fn probe(&self) -> Result<Lsn> {
        let inner = &self.inner;
        let sql = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                   ELSE pg_current_wal_lsn() END)::text AS lsn";
        match lsn_of(inner.ledger.connection(), sql).await {
            Ok(lsn) => {
                inner.replayed.fetch_max(lsn.0, Ordering::AcqRel);
                inner.answers.store(true, Ordering::Release);
                Ok(lsn)
            }
            Err(e) => {
                inner.answers.store(false, Ordering::Release);
                Err(e)
            }
        }
    }
}

async fn lsn_of(db: &DatabaseConnection, sql: &str) -> Result<Lsn> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| LedgerError::Unavailable("no WAL position".into()))?;
    let text: Option<String> = row.try_get("", "lsn")?;
    let text = text.ok_or_else(|| LedgerError::Unavailable("no WAL position".into()))?;
    text.parse().map_err(LedgerError::Unavailable)
}

/// Rereads the replay position every [`PROBE`] while the replica is in use;
/// an unreachable replica is one warning per outage.
async fn probe_loop(inner: std::sync::Weak<Inner>) {
    let mut outage = Outage::new("replica probe", PROBE);
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let replica = Replica { inner };
        let wait = match replica.probe().await {
            Ok(_) => {
                outage.succeeded();
                PROBE
            }
            Err(e) => outage.failed(&e),
        };
        drop(replica);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Lsn;

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
