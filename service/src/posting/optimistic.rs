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
//!    write back as one statement, which is its own transaction (with the
//!    run's webhook events, deliveries and balance alerts, when endpoints
//!    or alerts exist). Its compare-and-swap on each account's version
//!    checks every row the run read (every change to an account bumps its
//!    version), and `tally_cas_guard` undoes the whole statement on any
//!    miss.
//!
//! Anything else — a refusal (it may rest on a stale row), a cache miss, a
//! compare-and-swap miss, a key already recorded, a lost connection — drops
//! the attempt, forgets the run's rows and hands the run to the locked path,
//! which decides it from locked rows and the recorded keys. A write whose
//! commit was lost in transit is safe to hand over: every request is keyed,
//! so the locked path replays it rather than applying it again.

use std::collections::HashMap;

use sea_orm::DbBackend;

use super::book::Book;
use super::plan;
use crate::model::request::{Outcome, Request};
use crate::store::ledger::Ledger;

/// Runs `requests` optimistically; `None` when the run must take the locked
/// path instead (nothing was written).
pub(super) async fn run(ledger: &Ledger, requests: &[Request]) -> Option<Vec<Outcome>> {
    let db = ledger.connection();
    if db.get_database_backend() != DbBackend::Postgres || requests.iter().any(|r| r.key.is_none()) {
        return None;
    }
    let plans: Vec<plan::Plan> = requests
        .iter()
        .map(|r| plan::from_cache(ledger, &r.action))
        .collect::<Option<_>>()?;
    let ids = plan::accounts_of(&plans);
    let _claim = ledger.cache.in_flight.claim_alone(&ids)?;
    let (mut rows, missing) = ledger.cache.recent.get(&ids);
    if !missing.is_empty() {
        let read = crate::store::account::with_heads(db, missing, false).await.ok()?;
        rows.extend(read);
    }
    let scales = crate::store::currency::scales_of(ledger, db, &rows).await.ok()?;
    let mut book = Book::new(rows, Vec::new(), scales, HashMap::new());
    let hooks = ledger.hooks();
    if hooks.active() {
        book.changes = Some(Vec::new());
    }
    let mut outcomes = Vec::with_capacity(requests.len());
    for (request, plan) in requests.iter().zip(plans) {
        outcomes.push(Ok(book.apply(request, plan).ok()?));
    }
    if !book.changes_only_accounts_it_read() {
        return None;
    }
    // The outbox rows ride in the statement: its compare-and-swap proves
    // the rows read were the latest committed, so the balances the alerts
    // were decided from are the committed sequence of states.
    let mut outbox = book.outbox(&hooks);
    let derived = outbox.take_derived();
    match book.write_alone(db, outbox).await {
        Ok(rows) => {
            ledger.cache.recent.keep(rows);
            ledger.remember_events(derived);
            Some(outcomes)
        }
        Err(e) => {
            tracing::debug!(error = %e, "optimistic run dropped; taking the locked path");
            ledger.cache.recent.forget(&ids);
            None
        }
    }
}
