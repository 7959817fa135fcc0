//! Live feeds for subscribers: which accounts changed, and the streams of
//! their committed entries and account states built on that.
//!
//! Owns: the per-instance change hub ([`Feed`]) and its poller. Uses: the
//! database handle and the account/entry tables, read only; it never writes.
//!
//! A wake-up is only a hint ("look again"); what a subscriber receives is
//! always read back from the database, by sequence, so it is committed,
//! gap-free and in order whatever the hints did. Hints come from two places:
//! - this instance's engine, right after each commit (no delay), and
//! - a poller, one per instance, that every `poll` interval reads the
//!   version of every account someone here watches (one indexed statement
//!   per 1,000 watched accounts) and wakes the watchers of any that moved.
//!   That is how a commit by another instance reaches a subscriber here.
//!
//! Polling, not LISTEN/NOTIFY: it costs the write path nothing (NOTIFY
//! would add work to every commit and serialises committing transactions on
//! the notification queue), it works the same on SQLite, and it cannot lose
//! a notification across a dropped connection or a database restart, after
//! which LISTEN must resynchronise by reading anyway. The price is latency:
//! a commit by another instance arrives within one poll interval.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::broadcast;
use uuid::Uuid;

use entity::account;

/// How often, by default, the poller looks for other instances' commits.
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);

/// Hints in flight per instance; a watcher that falls further behind just
/// looks again (a lagged receiver counts as a wake-up).
const HINTS: usize = 1024;

/// Accounts per poll statement.
const POLL_CHUNK: usize = 1000;

/// The longest a subscriber waits without looking, hint or no hint.
const SAFETY_NET: Duration = Duration::from_secs(60);

/// The change hub of one instance.
pub struct Feed {
    hints: broadcast::Sender<Arc<[Uuid]>>,
    /// How many watchers each account has here.
    watched: Mutex<HashMap<Uuid, usize>>,
    /// The poll interval in microseconds.
    poll_us: AtomicU64,
    poller: Once,
}

impl Feed {
    pub(crate) fn new(poll: Duration) -> Self {
        Self {
            hints: broadcast::channel(HINTS).0,
            watched: Mutex::default(),
            poll_us: AtomicU64::new(micros(poll)),
            poller: Once::new(),
        }
    }

    pub(crate) fn set_poll(&self, poll: Duration) {
        self.poll_us.store(micros(poll), Ordering::Relaxed);
    }

    fn poll(&self) -> Duration {
        Duration::from_micros(self.poll_us.load(Ordering::Relaxed))
    }

    /// Tells this instance's watchers that `accounts` changed (after commit).
    pub(crate) fn publish(&self, accounts: impl IntoIterator<Item = Uuid>) {
        if self.hints.receiver_count() == 0 {
            return;
        }
        let ids: Arc<[Uuid]> = accounts.into_iter().collect();
        if !ids.is_empty() {
            let _ = self.hints.send(ids);
        }
    }

    /// Starts watching `ids`. Everything committed after this call wakes the
    /// watch, so read the current state only after taking it.
    pub(crate) fn watch(self: &Arc<Self>, db: &DatabaseConnection, ids: &[Uuid]) -> Watch {
        let rx = self.hints.subscribe();
        if let Ok(mut watched) = self.watched.lock() {
            for id in ids {
                *watched.entry(*id).or_default() += 1;
            }
        }
        self.start_poller(db);
        Watch {
            feed: Arc::clone(self),
            rx,
            ids: ids.iter().copied().collect(),
            poll: self.poll(),
        }
    }

    pub(crate) fn watched_count(&self) -> usize {
        self.watched.lock().map(|w| w.len()).unwrap_or_default()
    }

    fn watched_ids(&self) -> Vec<Uuid> {
        self.watched
            .lock()
            .map(|w| w.keys().copied().collect())
            .unwrap_or_default()
    }

    fn start_poller(self: &Arc<Self>, db: &DatabaseConnection) {
        self.poller
            .call_once(|| drop(tokio::spawn(poll_versions(Arc::downgrade(self), db.clone()))));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// One subscriber's interest in some accounts; dropping it stops the interest.
pub(crate) struct Watch {
    feed: Arc<Feed>,
    rx: broadcast::Receiver<Arc<[Uuid]>>,
    ids: HashSet<Uuid>,
    poll: Duration,
}

impl Watch {
    /// Waits until one of the watched accounts may have changed. Hints are
    /// not lost (a receiver that lags counts as woken); still, a subscriber
    /// looks again at least every [`SAFETY_NET`], cheaply, in case.
    pub(crate) async fn changed(&mut self) {
        let deadline = tokio::time::sleep(SAFETY_NET.max(self.poll));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                hint = self.rx.recv() => match hint {
                    Ok(ids) if !ids.iter().any(|id| self.ids.contains(id)) => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut deadline).await;
                        return;
                    }
                },
                () = &mut deadline => return,
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(mut watched) = self.feed.watched.lock() {
            for id in &self.ids {
                if let Some(n) = watched.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        watched.remove(id);
                    }
                }
            }
        }
    }
}

/// The poller: wakes the watchers of every watched account whose version
/// moved since it last looked (or that it sees for the first time, since a
/// commit may have landed between a watcher's first read and this look).
/// Ends when its instance's ledger is gone.
async fn poll_versions(feed: Weak<Feed>, db: DatabaseConnection) {
    let mut seen: HashMap<Uuid, i64> = HashMap::new();
    let mut outage: Option<crate::store::outage::Outage> = None;
    let mut wait = Duration::ZERO;
    loop {
        let Some(interval) = feed.upgrade().map(|f| f.poll()) else {
            return;
        };
        let outage = outage.get_or_insert_with(|| crate::store::outage::Outage::new("subscription poller", interval));
        tokio::time::sleep(wait.max(interval)).await;
        wait = Duration::ZERO;
        let Some(feed) = feed.upgrade() else { return };
        let ids = feed.watched_ids();
        let current: HashSet<&Uuid> = ids.iter().collect();
        seen.retain(|id, _| current.contains(id));
        let mut moved = Vec::new();
        for chunk in ids.chunks(POLL_CHUNK) {
            match versions(&db, chunk).await {
                Ok(rows) => moved.extend(
                    rows.into_iter()
                        .filter(|(id, v)| seen.insert(*id, *v) != Some(*v))
                        .map(|(id, _)| id),
                ),
                Err(e) => {
                    wait = outage.failed(&e.into());
                    break;
                }
            }
        }
        if wait.is_zero() {
            outage.succeeded();
        }
        feed.publish(moved);
    }
}

async fn versions(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, i64)>, sea_orm::DbErr> {
    account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::Version)
        .filter(account::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}
