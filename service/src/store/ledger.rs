//! The `Ledger` handle: one database pool plus caches of facts that never
//! change once written (currency scales, world account ids, each account's
//! currency), so they are safe to share between any number of instances
//! without invalidation — and the optimistic path's recent account rows,
//! which are checked on every use instead.

use std::sync::{Arc, OnceLock};

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend};
use sea_orm_migration::MigratorTrait;
use tokio::sync::{Mutex, MutexGuard, mpsc};

use crate::model::error::Result;
use crate::model::request::Job;
use crate::store::cache::Cache;
use crate::store::db;

#[derive(Clone)]
pub struct Ledger {
    db: DatabaseConnection,
    /// Kept for connections outside the pool (the sealer's leader lock).
    url: Arc<str>,
    pub(crate) cache: Arc<Cache>,
    /// SQLite admits one writer at a time; queueing writers here, in order,
    /// beats spinning in SQLite's busy handler. Correctness still comes from
    /// `BEGIN IMMEDIATE`, so several processes on one file stay safe.
    write_gate: Option<Arc<Mutex<()>>>,
    /// Write combining's lanes (`None`: every request runs alone).
    combining: Option<Arc<Lanes>>,
    /// Wakes this instance's subscribers after commits (see [`crate::store::feed`]).
    feed: Arc<crate::store::feed::Feed>,
    /// What this instance's pool has executed.
    stats: Arc<db::Stats>,
    /// Webhook endpoints and balance alerts, as last refreshed.
    hooks: Arc<crate::store::hooks::HookCell>,
}

/// Parallel combined runs per PostgreSQL instance.
const COMBINING_WORKERS: usize = 4;

/// Write combining's lanes, one per worker. The engine starts the workers
/// on the first request it routes here (`posting::combine`), so opening a
/// ledger needs nothing above storage.
pub(crate) struct Lanes {
    pub(crate) workers: usize,
    pub(crate) senders: OnceLock<Vec<mpsc::UnboundedSender<Job>>>,
}

/// A write transaction; on SQLite it also holds this process's writer slot.
pub(crate) struct WriteTxn<'a> {
    pub(crate) txn: DatabaseTransaction,
    _gate: Option<MutexGuard<'a, ()>>,
}

impl Ledger {
    /// Connects to `url`, applies pending migrations and starts write combining.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::open(url, true).await
    }

    /// Connects to `url`; applies pending migrations only when `migrate` (a
    /// least-privilege role cannot, and leaves that to `tally migrate`).
    pub async fn open(url: &str, migrate: bool) -> Result<Self> {
        Self::open_with(url, migrate, None).await
    }

    /// As [`Ledger::open`], with a PostgreSQL statement timeout on the pool
    /// (see [`db::connect_with`]). Migrations then run first, on a
    /// connection of their own without the timeout.
    pub async fn open_with(url: &str, migrate: bool, statement_timeout: Option<std::time::Duration>) -> Result<Self> {
        let migrate = match (migrate, statement_timeout) {
            (true, Some(_)) => {
                let db = db::connect(url).await?;
                migration::Migrator::up(&db, None).await?;
                db.close().await?;
                false
            }
            (migrate, _) => migrate,
        };
        let mut db = db::connect_with(url, statement_timeout).await?;
        let stats = Arc::new(db::Stats::default());
        db.set_metric_callback({
            let stats = Arc::clone(&stats);
            move |info| stats.record(info)
        });
        if migrate {
            migration::Migrator::up(&db, None).await?;
        }
        let mut ledger = Self::from_connection(db, url);
        ledger.stats = stats;
        Ok(ledger.with_combining())
    }

    /// Routes single requests through a write combiner (group commit).
    /// SQLite has one writer, so one worker; PostgreSQL commits in parallel.
    pub fn with_combining(mut self) -> Self {
        let workers = match self.write_gate {
            Some(_) => 1,
            None => COMBINING_WORKERS,
        };
        self.combining = Some(Arc::new(Lanes {
            workers,
            senders: OnceLock::new(),
        }));
        self
    }

    /// The same ledger with every request run on its own (one commit each).
    pub fn without_combining(mut self) -> Self {
        self.combining = None;
        self
    }

    pub(crate) fn lanes(&self) -> Option<&Lanes> {
        self.combining.as_deref()
    }

    pub fn from_connection(db: DatabaseConnection, url: &str) -> Self {
        let sqlite = db.get_database_backend() == DbBackend::Sqlite;
        Self {
            db,
            url: Arc::from(url),
            cache: Arc::default(),
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            combining: None,
            feed: Arc::new(crate::store::feed::Feed::new(crate::store::feed::DEFAULT_POLL)),
            stats: Arc::default(),
            hooks: Arc::default(),
        }
    }

    /// Subscribers on this instance (every clone of this ledger) look for
    /// other instances' commits every `poll` (default [`crate::store::feed::DEFAULT_POLL`]).
    pub fn with_feed_poll(self, poll: std::time::Duration) -> Self {
        self.feed.set_poll(poll);
        self
    }

    /// Statements this instance's pool has executed (counted when the
    /// ledger was opened by [`Ledger::open`]; zero for a bare connection).
    pub fn statements_executed(&self) -> u64 {
        self.stats.statements()
    }

    /// Migrations the database still lacks (0 when its schema is current).
    /// Read only (one SELECT), so a least-privilege role can ask too.
    pub async fn pending_migrations(&self) -> Result<usize> {
        Ok(migration::Migrator::get_pending_migrations_read_only(&self.db)
            .await?
            .len())
    }

    /// The pool's connections: (open, idle), when the driver tells.
    pub fn pool_connections(&self) -> Option<(u32, usize)> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                Some((pool.size(), pool.num_idle()))
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                Some((pool.size(), pool.num_idle()))
            }
            _ => None,
        }
    }

    /// How many accounts this instance's subscribers watch right now.
    pub fn watched_accounts(&self) -> usize {
        self.feed.watched_count()
    }

    pub(crate) fn feed(&self) -> &Arc<crate::store::feed::Feed> {
        &self.feed
    }

    /// The webhook endpoints and balance alerts the engine reports to.
    /// Keeps committed `transfer.posted` events with their bodies for this
    /// instance's webhook worker (see `Cache::events`).
    pub(crate) fn remember_events(&self, events: Vec<entity::webhook_event::Model>) {
        if !events.is_empty() {
            self.cache
                .events
                .insert(events.into_iter().map(|e| (e.id, Arc::new(e))));
        }
    }

    pub fn hooks(&self) -> Arc<crate::store::hooks::Hooks> {
        self.hooks.get()
    }

    /// Rereads webhook endpoints and balance alerts into [`Ledger::hooks`].
    pub async fn refresh_hooks(&self) -> Result<()> {
        let hooks = crate::store::hooks::load(&self.db).await?;
        self.hooks.set(hooks);
        Ok(())
    }

    /// The same ledger (caches, feed, hooks) reading from `db`, a replica
    /// of this ledger's database: for reads only (see `store::replica`).
    pub(crate) fn reading_from(&self, db: DatabaseConnection) -> Self {
        Self { db, ..self.clone() }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTxn<'_>> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let txn = db::begin_write(&self.db).await?;
        Ok(WriteTxn { txn, _gate: gate })
    }
}
