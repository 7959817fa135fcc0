//! The optimistic path (PostgreSQL): a run without a transaction or a lock.
//!
//! The locked path costs four round trips per run — BEGIN, the `FOR UPDATE`,
//! the write-back and COMMIT — and on a hot account's lane those round trips,
//! not the work, set the pace. This instance has just written most of the
//! accounts it is asked to move again, so it keeps the rows it committed
//! ([`Recent`]) and tries each run first as one statement on its own:
//! 1. Plan from caches alone (movements and splits only; every request keyed).
//! 2. Take each account's row from [`Recent`], or read it without a lock.
//! 3. Apply in memory exactly as the locked path does.
//! 4. Only if every request succeeded and every account read is changed:
//!    write back as one statement, which is its own transaction. Its
//!    compare-and-swap on each account's version checks every row the run
//!    read (every change to an account bumps its version), and
//!    `tally_cas_guard` undoes the whole statement on any miss.
//!
//! Anything else — a refusal (it may rest on a stale row), a cache miss, a
//! compare-and-swap miss, a key already recorded, a lost connection — drops
//! the attempt, forgets the run's rows and hands the run to the locked path,
//! which decides it from locked rows and the recorded keys. A write whose
//! commit was lost in transit is safe to hand over: every request is keyed,
//! so the locked path replays it rather than applying it again.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};

use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::book::Book;
use super::{Outcome, Request, plan};
use crate::ledger::Ledger;
use entity::account;

/// The most rows [`Recent`] keeps; it starts over past that (a miss only
/// costs an unlocked read).
const MAX_RECENT: usize = 50_000;

/// Accounts as this instance last committed (or read under lock) them. Not
/// a fact but a guess: another instance may have moved any of them since,
/// which the write-back's compare-and-swap detects.
#[derive(Default)]
pub(crate) struct Recent(RwLock<HashMap<Uuid, account::Model>>);

impl Recent {
    fn get(&self, ids: &BTreeSet<Uuid>) -> (Vec<account::Model>, Vec<Uuid>) {
        let (mut found, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
        let Ok(map) = self.0.read() else {
            return (found, ids.iter().copied().collect());
        };
        for id in ids {
            match map.get(id) {
                Some(row) => found.push(row.clone()),
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Keeps each row unless a newer version of it is already kept (runs on
    /// different lanes may commit one account in one order and report in
    /// the other).
    pub(super) fn keep(&self, rows: Vec<account::Model>) {
        let Ok(mut map) = self.0.write() else { return };
        if map.len().saturating_add(rows.len()) > MAX_RECENT {
            map.clear();
        }
        for row in rows {
            match map.get(&row.id) {
                Some(kept) if kept.version >= row.version => {}
                _ => {
                    map.insert(row.id, row);
                }
            }
        }
    }

    fn forget(&self, ids: &BTreeSet<Uuid>) {
        if let Ok(mut map) = self.0.write() {
            for id in ids {
                map.remove(id);
            }
        }
    }
}

/// The accounts this instance's runs are writing right now, each with how
/// many runs are writing it. An optimistic run on an account another run is
/// about to change would read a row that is stale by the time it writes, so
/// it takes the locked path instead (and waits its turn on the row lock).
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashMap<Uuid, u32>>);

/// The accounts one run has claimed; released when dropped.
pub(super) struct Claim<'a> {
    in_flight: &'a InFlight,
    ids: Vec<Uuid>,
}

impl InFlight {
    /// Claims `ids` for a locked run, beside any other run.
    pub(super) fn claim(&self, ids: impl IntoIterator<Item = Uuid>) -> Claim<'_> {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if let Ok(mut map) = self.0.lock() {
            for id in &ids {
                *map.entry(*id).or_default() += 1;
            }
        }
        Claim { in_flight: self, ids }
    }

    /// Claims `ids` for an optimistic run, only if no other run has any of them.
    fn claim_alone(&self, ids: &BTreeSet<Uuid>) -> Option<Claim<'_>> {
        let mut map = self.0.lock().ok()?;
        if ids.iter().any(|id| map.contains_key(id)) {
            return None;
        }
        for id in ids {
            map.insert(*id, 1);
        }
        Some(Claim {
            in_flight: self,
            ids: ids.iter().copied().collect(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let Ok(mut map) = self.in_flight.0.lock() else { return };
        for id in &self.ids {
            if let Some(n) = map.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    map.remove(id);
                }
            }
        }
    }
}

/// Runs `requests` optimistically; `None` when the run must take the locked
/// path instead (nothing was written).
pub(super) async fn run(ledger: &Ledger, requests: &[Request]) -> Option<Vec<Outcome>> {
    let db = ledger.connection();
    if db.get_database_backend() != DbBackend::Postgres || requests.iter().any(|r| r.key.is_none()) {
        return None;
    }
    let plans: Vec<plan::Plan> = requests
        .iter()
        .map(|r| plan::from_cache(ledger, &r.op))
        .collect::<Option<_>>()?;
    let ids = plan::accounts_of(&plans);
    let _claim = ledger.cache.in_flight.claim_alone(&ids)?;
    let (mut rows, missing) = ledger.cache.recent.get(&ids);
    if !missing.is_empty() {
        let read = account::Entity::find()
            .filter(account::Column::Id.is_in(missing))
            .all(db)
            .await
            .ok()?;
        rows.extend(read);
    }
    let scales = super::scales_of(ledger, db, &rows).await.ok()?;
    let mut book = Book::new(rows, Vec::new(), scales, HashMap::new());
    let mut outcomes = Vec::with_capacity(requests.len());
    for (request, plan) in requests.iter().zip(plans) {
        outcomes.push(Ok(book.apply(request, plan).ok()?));
    }
    if !book.changes_only_accounts_it_read() {
        return None;
    }
    match book.write_alone(db).await {
        Ok(rows) => {
            ledger.cache.recent.keep(rows);
            Some(outcomes)
        }
        Err(e) => {
            tracing::debug!(error = %e, "optimistic run dropped; taking the locked path");
            ledger.cache.recent.forget(&ids);
            None
        }
    }
}
